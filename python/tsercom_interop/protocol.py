"""The tsercom wire protocol (PROTOCOL.md) for a grpcio peer: the
handshake, clock sync and the CallerId binding, dialing or hosting.

Import after ``codegen.generate`` put the generated package on the path.
"""

import random
import threading
import time
import uuid

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from tsercom_wire import caller_id_pb2, peer_pb2, peer_pb2_grpc, time_pb2

PROTOCOL_VERSION = 1
CALLER_ID_METADATA = "tsercom-caller-id"
# One incarnation per process start (PROTOCOL.md, "Handshake").
INCARNATION = random.getrandbits(63) | 1

# A grpcio channel of its own (not the process-wide subchannel pool): the
# Rust host binds a CallerId to one TCP connection; keepalive PINGs from
# the Rust side (every second) are allowed.
CHANNEL_OPTIONS = [
    ("grpc.use_local_subchannel_pool", 1),
    ("grpc.http2.max_pings_without_data", 0),
]
# gRPC-core servers refuse frequent PINGs by default ("too_many_pings");
# tsercom peers PING every second.
SERVER_OPTIONS = [
    ("grpc.http2.min_recv_ping_interval_without_data_ms", 500),
    ("grpc.http2.max_ping_strikes", 0),
    ("grpc.keepalive_permit_without_calls", 1),
]


class Clock:
    """The peer's clock: the system clock plus ``skew`` seconds."""

    def __init__(self, skew=0.0):
        self.skew = skew

    def now(self):
        return time.time() + self.skew


def to_timestamp(seconds):
    ts = Timestamp()
    whole = int(seconds // 1)
    ts.seconds = whole
    ts.nanos = int(round((seconds - whole) * 1e9)) % 1_000_000_000
    return ts


def from_timestamp(ts):
    return ts.seconds + ts.nanos / 1e9


def server_timestamp(seconds):
    return time_pb2.ServerTimestamp(timestamp=to_timestamp(seconds))


def new_caller_id():
    return str(uuid.uuid4())


class Dialed:
    """A dialed connection: handshake, clock offset (host − own), the
    metadata a stream must carry."""

    def __init__(self, target, caller_id, clock):
        self.channel = grpc.insecure_channel(target, options=CHANNEL_OPTIONS)
        self.caller_id = caller_id
        self.clock = clock
        peer = peer_pb2_grpc.PeerStub(self.channel)
        reply = peer.Handshake(
            peer_pb2.HandshakeRequest(
                caller_id=caller_id_pb2.CallerId(id=caller_id),
                protocol_version=PROTOCOL_VERSION,
                incarnation=INCARNATION,
            ),
            timeout=30,
        )
        if reply.protocol_version != PROTOCOL_VERSION:
            raise RuntimeError("host speaks protocol %d" % reply.protocol_version)
        self.host_id = reply.caller_id.id
        self.offset, self.delay = self._sync(peer)

    def _sync(self, peer, rounds=8):
        """offset = ((T2 − T1) + (T3 − T4)) / 2 of the round of least delay."""
        best = None
        for _ in range(rounds):
            t1 = self.clock.now()
            reply = peer.SyncTime(
                peer_pb2.TimeSyncRequest(client_send=to_timestamp(t1)), timeout=30
            )
            t4 = self.clock.now()
            t2 = from_timestamp(reply.server_receive)
            t3 = from_timestamp(reply.server_send)
            offset = ((t2 - t1) + (t3 - t4)) / 2
            delay = (t4 - t1) - (t3 - t2)
            if best is None or delay < best[1]:
                best = (offset, delay)
        return best

    def metadata(self):
        return [(CALLER_ID_METADATA, self.caller_id)]

    def to_host(self, seconds):
        return seconds + self.offset

    def from_host(self, seconds):
        return seconds - self.offset


class PeerServicer(peer_pb2_grpc.PeerServicer):
    """``tsercom.Peer`` for a hosting peer: binds each connection (grpcio's
    ``context.peer()``, e.g. ``ipv4:127.0.0.1:53422``) to the CallerId of
    its handshake, and answers clock sync from ``clock``."""

    def __init__(self, caller_id, clock):
        self.caller_id = caller_id
        self.clock = clock
        self._lock = threading.Lock()
        self._bound = {}

    def Handshake(self, request, context):
        if request.protocol_version != PROTOCOL_VERSION:
            context.abort(
                grpc.StatusCode.FAILED_PRECONDITION,
                "protocol version %d is not spoken here" % request.protocol_version,
            )
        try:
            uuid.UUID(request.caller_id.id)
        except ValueError:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "handshake: bad CallerId")
        with self._lock:
            self._bound[context.peer()] = request.caller_id.id
        return peer_pb2.HandshakeResponse(
            caller_id=caller_id_pb2.CallerId(id=self.caller_id),
            protocol_version=PROTOCOL_VERSION,
        )

    def SyncTime(self, request, context):
        received = self.clock.now()
        return peer_pb2.TimeSyncResponse(
            client_send=request.client_send,
            server_receive=to_timestamp(received),
            server_send=to_timestamp(self.clock.now()),
        )

    def caller_of(self, context):
        """The stream's caller: its connection's handshake; a metadata
        CallerId, when sent, must be the same."""
        with self._lock:
            bound = self._bound.get(context.peer())
        if bound is None:
            context.abort(
                grpc.StatusCode.UNAUTHENTICATED,
                "stream: no tsercom.Peer/Handshake on this connection",
            )
        claimed = dict(context.invocation_metadata()).get(CALLER_ID_METADATA)
        if claimed is not None and claimed != bound:
            context.abort(
                grpc.StatusCode.PERMISSION_DENIED,
                "stream: this connection handshook as %s" % bound,
            )
        return bound
