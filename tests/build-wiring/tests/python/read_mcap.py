"""Reads a tsercom recording with the `mcap` Python package and decodes
every message through its embedded schema with `mcap-protobuf-support`
(no tsercom code). Prints one line per item, fields separated by spaces:
`topic TOPIC CALLER_ID SCHEMA SCHEMA_ENCODING MESSAGE_ENCODING` when a
topic is first seen, `msg TOPIC LOG_TIME PUBLISH_TIME CELSIUS STAMP_NS`
per message (STAMP_NS: the message's own timestamp field), `meta NAME
KEY=VALUE...` per metadata record, and with --stream (a file cut short:
read linearly, without the summary) `error TEXT` when the read ended on an
error.

Usage: python read_mcap.py FILE [--stream]
"""

import sys

from mcap.reader import NonSeekingReader, make_reader
from mcap_protobuf.decoder import DecoderFactory


def main():
    path = sys.argv[1]
    stream = "--stream" in sys.argv[2:]
    seen = set()
    with open(path, "rb") as f:
        if stream:
            reader = NonSeekingReader(f, decoder_factories=[DecoderFactory()])
        else:
            reader = make_reader(f, decoder_factories=[DecoderFactory()])
        try:
            # A streamed read in file order: sorting by log time would read
            # the whole (cut) file before yielding anything.
            for schema, channel, message, proto in reader.iter_decoded_messages(
                log_time_order=not stream
            ):
                if channel.topic not in seen:
                    seen.add(channel.topic)
                    print("topic", channel.topic, channel.metadata.get("caller_id"),
                          schema.name, schema.encoding, channel.message_encoding)
                stamp = proto.timestamp.timestamp
                print("msg", channel.topic, message.log_time, message.publish_time,
                      repr(proto.celsius), stamp.seconds * 1_000_000_000 + stamp.nanos)
            if not stream:
                for m in reader.iter_metadata():
                    print("meta", m.name,
                          " ".join(f"{k}={v}" for k, v in sorted(m.metadata.items())
                                   if " " not in v))
        except Exception as e:  # a cut file ends with an error; report it
            if not stream:
                raise
            print("error", f"{type(e).__name__}: {e}".replace("\n", " "))


if __name__ == "__main__":
    main()
