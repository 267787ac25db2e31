"""A grpcio peer for the Python <-> Rust interoperability tests
(tests/build-wiring/tests/python_interop.rs).

Speaks the protocol of PROTOCOL.md with code generated into the package
``tsercom_wire`` (never ``tsercom``: the PyPI package of that name is
imported alongside, see ``legacy``). Prints one line per event on stdout,
``<event> key=value ...``; exits when stdin closes.

Modes:
  aggregator --target H:P --readings N --commands K
      dials a Rust producer hosting sensors.Sensor/Stream: handshake, clock
      sync, K commands stamped on the host's clock, N readings converted to
      its own clock.
  producer --skew S --readings N
      hosts tsercom.Peer and sensors.Sensor/Stream on 127.0.0.1 (any port)
      with its clock S seconds ahead: N readings to each stream, commands
      printed.
  legacy --target H:P --readings N [--caller-id ID]
      a Python tsercom 1.x peer: no handshake, no metadata; its CallerId
      (PyPI tsercom's CallerIdentifier) and timestamps (its
      SynchronizedTimestamp) ride in the messages of
      sensors.Trainer/Upload.
"""

import argparse
import os
import sys
import threading
import time
from concurrent import futures

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)

_print_lock = threading.Lock()


def say(event, **fields):
    line = " ".join([event] + ["%s=%s" % (k, v) for k, v in fields.items()])
    with _print_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def stdin_closed():
    """An Event set when stdin closes (the test ended or dropped us)."""
    closed = threading.Event()

    def watch():
        for _ in sys.stdin:
            pass
        closed.set()

    threading.Thread(target=watch, daemon=True).start()
    return closed


def setup(gen_dir):
    from tsercom_interop import codegen

    codegen.generate(
        REPO, [os.path.join(REPO, "tests", "build-wiring", "proto", "sensors.proto")], gen_dir
    )


def run_aggregator(args, closed):
    import grpc
    import sensors_pb2
    import sensors_pb2_grpc
    from tsercom_interop import protocol

    clock = protocol.Clock()
    me = protocol.new_caller_id()
    dialed = protocol.Dialed(args.target, me, clock)
    say(
        "ready",
        caller=me,
        host=dialed.host_id,
        offset="%.6f" % dialed.offset,
        delay="%.6f" % dialed.delay,
    )
    done = threading.Event()

    def commands():
        for i in range(args.commands):
            yield sensors_pb2.Command(
                action="py-%d" % i,
                when=protocol.server_timestamp(dialed.to_host(clock.now())),
            )
        # Keep the request side open (a half-close ends the caller's
        # stream on the host) until the readings arrived.
        while not done.wait(0.2) and not closed.is_set():
            pass

    stub = sensors_pb2_grpc.SensorStub(dialed.channel)
    call = stub.Stream(commands(), metadata=dialed.metadata())
    got = 0
    try:
        for reading in call:
            at = dialed.from_host(protocol.from_timestamp(reading.timestamp.timestamp))
            say(
                "reading",
                celsius="%g" % reading.celsius,
                age="%.6f" % (clock.now() - at),
                source=reading.source.id or "-",
            )
            got += 1
            if got >= args.readings:
                break
    except grpc.RpcError as e:
        say("error", code=e.code().name)
    done.set()
    say("done", readings=got)
    call.cancel()


def run_producer(args, closed):
    import grpc
    import sensors_pb2
    import sensors_pb2_grpc
    from tsercom_interop import protocol

    clock = protocol.Clock(args.skew)
    me = protocol.new_caller_id()
    peer = protocol.PeerServicer(me, clock)

    class Sensor(sensors_pb2_grpc.SensorServicer):
        def Stream(self, request_iterator, context):
            caller = peer.caller_of(context)
            say("stream", caller=caller)

            def read_commands():
                try:
                    for command in request_iterator:
                        when = protocol.from_timestamp(command.when.timestamp)
                        say(
                            "command",
                            caller=caller,
                            action=command.action,
                            skew="%.6f" % (when - clock.now()),
                        )
                except grpc.RpcError:
                    pass

            threading.Thread(target=read_commands, daemon=True).start()
            for i in range(args.readings):
                yield sensors_pb2.Reading(
                    timestamp=protocol.server_timestamp(clock.now()),
                    celsius=float(i),
                    source=protocol.caller_id_pb2.CallerId(id=me),
                )
            # Stay connected (an ended stream is redialed) until the
            # dialer leaves or the test ends.
            while context.is_active() and not closed.wait(0.2):
                pass

    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=8), options=protocol.SERVER_OPTIONS
    )
    protocol.peer_pb2_grpc.add_PeerServicer_to_server(peer, server)
    sensors_pb2_grpc.add_SensorServicer_to_server(Sensor(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    say("ready", port=port, caller=me)
    closed.wait()
    server.stop(grace=None)


def run_legacy(args, closed):
    import datetime

    import grpc
    import sensors_pb2
    import sensors_pb2_grpc
    from tsercom_interop import protocol

    # The real Python tsercom (PyPI): its id and timestamp types.
    from tsercom.caller_id.caller_identifier import CallerIdentifier
    from tsercom.timesync.common.synchronized_timestamp import SynchronizedTimestamp

    me = (
        CallerIdentifier.try_parse(args.caller_id)
        if args.caller_id
        else CallerIdentifier.random()
    )
    wire_id = me.to_grpc_type().SerializeToString()
    channel = grpc.insecure_channel(args.target, options=protocol.CHANNEL_OPTIONS)
    stop = threading.Event()

    def readings():
        for i in range(args.readings):
            reading = sensors_pb2.Reading(celsius=float(i))
            reading.source.ParseFromString(wire_id)
            stamp = SynchronizedTimestamp(datetime.datetime.now(datetime.timezone.utc))
            reading.timestamp.ParseFromString(stamp.to_grpc_type().SerializeToString())
            yield reading
        while not stop.wait(0.2) and not closed.is_set():
            pass

    say("ready", caller=str(me))
    call = sensors_pb2_grpc.TrainerStub(channel).Upload(readings())
    try:
        for command in call:
            say("command", action=command.action)
        say("ended")
    except grpc.RpcError as e:
        if not closed.is_set():
            say("error", code=e.code().name, details=(e.details() or "").replace(" ", "_"))
    stop.set()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["aggregator", "producer", "legacy"])
    parser.add_argument("--gen", required=True, help="directory for generated code")
    parser.add_argument("--target", help="host:port to dial")
    parser.add_argument("--readings", type=int, default=10)
    parser.add_argument("--commands", type=int, default=0)
    parser.add_argument("--skew", type=float, default=0.0)
    parser.add_argument("--caller-id")
    args = parser.parse_args()
    setup(args.gen)
    closed = stdin_closed()
    {"aggregator": run_aggregator, "producer": run_producer, "legacy": run_legacy}[
        args.mode
    ](args, closed)
    if args.mode != "producer":
        # Stay until the test is done with us.
        closed.wait(120)


if __name__ == "__main__":
    main()
