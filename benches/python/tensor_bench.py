"""The `tensor` bench scenario's workload through Python tsercom's tensor
module, for the ratio with `cargo run --release -p tsercom-bench -- tensor`.

Run by hand (needs torch, numpy, lz4 and tsercom's tensor module; see
tsercom/tests/fixtures/tensor/README.md for the environment):

    python benches/python/tensor_bench.py [--elements N] [--steps S]

A 1 M-element float32 tensor (random start), 1 % or 100 % of its elements
set to new random values per step, 10 ms apart (100 Hz). Per update: the
producer's time (process_tensor through the multiplexer, each chunk's
to_grpc_type, the TensorUpdate serialized), the bytes, and, where it
finishes in reasonable time, the receiver's (parse, try_parse, Python's
TensorDemuxer). Prints medians.
"""

import argparse
import asyncio
import datetime
import statistics
import time

import torch

from tsercom.tensor.demuxer.tensor_demuxer import TensorDemuxer
from tsercom.tensor.muxer.complete_tensor_multiplexer import CompleteTensorMultiplexer
from tsercom.tensor.muxer.sparse_tensor_multiplexer import SparseTensorMultiplexer
from tsercom.tensor.muxer.tensor_multiplexer import TensorMultiplexer
from tsercom.tensor.proto import TensorChunk, TensorUpdate
from tsercom.tensor.serialization.serializable_tensor_chunk import (
    SerializableTensorChunk,
)
from tsercom.timesync.common.fake_synchronized_clock import FakeSynchronizedClock

BASE = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)


class Collect(TensorMultiplexer.Client):
    def __init__(self) -> None:
        self.chunks = []

    async def on_chunk_update(self, chunk) -> None:
        self.chunks.append(chunk)


class Ignore(TensorDemuxer.Client):
    async def on_tensor_changed(self, tensor, timestamp) -> None:
        pass


async def run(mode: str, elements: int, changing: float, steps: int, receive_steps: int):
    g = torch.Generator().manual_seed(18)
    state = torch.rand(elements, generator=g) * 2 - 1
    client = Collect()
    clock = FakeSynchronizedClock()
    cls = SparseTensorMultiplexer if mode.startswith("sparse") else CompleteTensorMultiplexer
    mux = cls(client, elements, clock, data_timeout_seconds=60)
    demux = TensorDemuxer(Ignore(), elements, data_timeout_seconds=60)
    lz4 = mode.endswith("LZ4")
    produce, receive, sizes = [], [], []
    changes = max(1, int(elements * changing))
    for step in range(steps + 1):
        if changes >= elements:
            state = torch.rand(elements, generator=g) * 2 - 1
        else:
            state = state.clone()
            idx = torch.randint(0, elements, (changes,), generator=g)
            state[idx] = torch.rand(changes, generator=g) * 2 - 1
        when = BASE + datetime.timedelta(milliseconds=10 * step)
        client.chunks = []
        start = time.perf_counter()
        await mux.process_tensor(state, when)
        chunks = client.chunks
        if lz4:
            chunks = [
                SerializableTensorChunk(c.tensor, c.timestamp, c.starting_index, TensorChunk.CompressionType.LZ4)
                for c in chunks
            ]
        wire = TensorUpdate(chunks=[c.to_grpc_type() for c in chunks]).SerializeToString()
        produced = time.perf_counter() - start
        if step == 0:
            continue  # warm-up (and the first diff is against zeros)
        produce.append(produced * 1e3)
        sizes.append(len(wire))
        if step <= receive_steps:
            start = time.perf_counter()
            update = TensorUpdate()
            update.ParseFromString(wire)
            for msg in update.chunks:
                chunk = SerializableTensorChunk.try_parse(msg, torch.float32)
                await demux.on_chunk_received(chunk)
            receive.append((time.perf_counter() - start) * 1e3)
    return {
        "mode": mode,
        "changing": changing,
        "bytes": statistics.mean(sizes),
        "producer_ms": statistics.median(produce),
        "receiver_ms": statistics.median(receive) if receive else None,
        "receiver_steps": len(receive),
    }


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--elements", type=int, default=1_000_000)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--receive-steps", type=int, default=2,
                        help="updates also run through Python's TensorDemuxer (sparse 1 % only: "
                        "it loops per element in Python, minutes per update for 1 M elements)")
    args = parser.parse_args()
    print(f"python tensor: {args.elements} float32 elements, {args.steps} updates per row, torch {torch.__version__}")
    print(f"{'changing':<9}{'mode':<14}{'bytes/update':>14}{'producer ms p50':>17}{'receiver ms p50':>17}")
    for changing in (0.01, 1.0):
        for mode in ("sparse", "complete", "complete+LZ4"):
            receive = args.receive_steps if (mode == "sparse" and changing < 0.5) else 0
            r = await run(mode, args.elements, changing, args.steps, receive)
            rec = f"{r['receiver_ms']:.0f} ({r['receiver_steps']})" if r["receiver_ms"] is not None else "not run"
            print(f"{changing * 100:>5.0f} %  {mode:<14}{r['bytes']:>14.0f}{r['producer_ms']:>17.1f}{rec:>17}")


if __name__ == "__main__":
    asyncio.run(main())
