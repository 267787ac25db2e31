//! Byte fixtures, written by hand from the protobuf encoding rules
//! (tag = field_number << 3 | wire_type; varints little-endian base 128),
//! proving our messages encode and decode exactly as the Python tsercom
//! library's (same field numbers and types).

use prost::Message;
use tsercom::proto::{
    CallerId, GetIdResponse, ServerTimestamp, TensorChunk, TensorInitializer, TensorUpdate,
    tensor_chunk::CompressionType,
};
use tsercom::well_known_types::Timestamp;

const UUID: &str = "67e55044-10b1-426f-9247-bb680e5fe0c8";

fn caller_id_bytes() -> Vec<u8> {
    // field 1 (id), wire type 2 (length-delimited): tag 0x0a, length 36.
    let mut bytes = vec![0x0a, 0x24];
    bytes.extend_from_slice(UUID.as_bytes());
    bytes
}

/// ServerTimestamp { timestamp: { seconds: 1_700_000_000, nanos: 123_456_789 } }
const SERVER_TIMESTAMP: &[u8] = &[
    0x0a, 0x0b, // field 1 (timestamp), length 11
    0x08, 0x80, 0xe2, 0xcf, 0xaa, 0x06, // field 1 (seconds) varint 1_700_000_000
    0x10, 0x95, 0x9a, 0xef, 0x3a, // field 2 (nanos) varint 123_456_789
];

/// ServerTimestamp { timestamp: { seconds: -1, nanos: 999_999_999 } }:
/// negative int64 is a ten-byte varint.
const SERVER_TIMESTAMP_BEFORE_EPOCH: &[u8] = &[
    0x0a, 0x11, // field 1, length 17
    0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, // seconds = -1
    0x10, 0xff, 0x93, 0xeb, 0xdc, 0x03, // nanos = 999_999_999
];

fn server_timestamp() -> ServerTimestamp {
    ServerTimestamp {
        timestamp: Some(Timestamp {
            seconds: 1_700_000_000,
            nanos: 123_456_789,
        }),
    }
}

fn tensor_chunk_bytes() -> Vec<u8> {
    let mut bytes = vec![0x0a, 0x0d]; // field 1 (timestamp), length 13
    bytes.extend_from_slice(SERVER_TIMESTAMP);
    bytes.extend_from_slice(&[0x10, 0x05]); // field 2 (starting_index) = 5
    bytes.extend_from_slice(&[0x1a, 0x04, 0x01, 0x02, 0x03, 0x04]); // field 3 (data_bytes)
    bytes.extend_from_slice(&[0x20, 0x01]); // field 4 (compression) = LZ4
    bytes
}

fn tensor_chunk() -> TensorChunk {
    TensorChunk {
        timestamp: Some(server_timestamp()),
        starting_index: 5,
        data_bytes: vec![1, 2, 3, 4],
        compression: CompressionType::Lz4 as i32,
    }
}

fn assert_wire<M: Message + Default + PartialEq + std::fmt::Debug>(message: &M, bytes: &[u8]) {
    assert_eq!(message.encode_to_vec(), bytes, "encoding of {message:?}");
    assert_eq!(&M::decode(bytes).expect("decodes"), message, "decoding");
}

#[test]
fn caller_id() {
    assert_wire(&CallerId { id: UUID.into() }, &caller_id_bytes());
    let parsed = tsercom::CallerId::try_from(
        &CallerId::decode(caller_id_bytes().as_slice()).expect("decodes"),
    )
    .expect("valid id");
    assert_eq!(parsed.to_string(), UUID);
    assert_eq!(parsed.to_proto().encode_to_vec(), caller_id_bytes());
}

#[test]
fn get_id_response() {
    let mut bytes = vec![0x0a, 0x26]; // field 1 (id), length 38
    bytes.extend_from_slice(&caller_id_bytes());
    assert_wire(
        &GetIdResponse {
            id: Some(CallerId { id: UUID.into() }),
        },
        &bytes,
    );
}

#[test]
fn server_timestamp_fixtures() {
    assert_wire(&server_timestamp(), SERVER_TIMESTAMP);
    let before = ServerTimestamp {
        timestamp: Some(Timestamp {
            seconds: -1,
            nanos: 999_999_999,
        }),
    };
    assert_wire(&before, SERVER_TIMESTAMP_BEFORE_EPOCH);
    // Through tsercom's own Timestamp type too.
    let t = tsercom::Timestamp::new(1_700_000_000, 123_456_789).expect("in range");
    assert_eq!(t.to_proto().encode_to_vec(), SERVER_TIMESTAMP);
    let back = tsercom::Timestamp::from_proto(
        &ServerTimestamp::decode(SERVER_TIMESTAMP).expect("decodes"),
    )
    .expect("in range");
    assert_eq!(back, t);
    assert_eq!(back.to_string(), "2023-11-14T22:13:20.123456789Z");
}

#[test]
fn tensor_chunk_fixture() {
    assert_wire(&tensor_chunk(), &tensor_chunk_bytes());
    // NONE = 0 is the default and is not written at all (proto3).
    let plain = TensorChunk {
        compression: CompressionType::None as i32,
        ..tensor_chunk()
    };
    let bytes = tensor_chunk_bytes();
    assert_wire(&plain, &bytes[..bytes.len() - 2]);
}

#[test]
fn tensor_update_and_initializer_fixtures() {
    let chunk = tensor_chunk_bytes();
    let mut update = vec![0x0a, u8::try_from(chunk.len()).expect("short")]; // field 1 (chunks)
    update.extend_from_slice(&chunk);
    assert_wire(
        &TensorUpdate {
            chunks: vec![tensor_chunk()],
        },
        &update,
    );

    let mut init = vec![
        0x0a, 0x03, 0x03, 0xe0, 0x01, // field 1 (shape), packed: [3, 224]
        0x12, 0x07, b'f', b'l', b'o', b'a', b't', b'3', b'2', // field 2 (dtype)
        0x19, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf8, 0x3f, // field 3 (fill_value) = 1.5
        0x22, // field 4 (initial_state)
    ];
    init.push(u8::try_from(update.len()).expect("short"));
    init.extend_from_slice(&update);
    let message = TensorInitializer {
        shape: vec![3, 224],
        dtype: "float32".into(),
        fill_value: 1.5,
        initial_state: Some(TensorUpdate {
            chunks: vec![tensor_chunk()],
        }),
    };
    assert_wire(&message, &init);
}

#[test]
fn truncated_bytes_are_a_decode_error_not_a_panic() {
    for cut in 1..SERVER_TIMESTAMP.len() {
        assert!(
            ServerTimestamp::decode(&SERVER_TIMESTAMP[..cut]).is_err(),
            "cut at {cut}"
        );
    }
}
