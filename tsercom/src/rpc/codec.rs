//! The codec of tsercom's own services (the handshake, time sync and
//! acknowledgments): prost, with small buffers.
//!
//! Their messages are tens of bytes, and a streaming call keeps its
//! encoder's and decoder's buffers for as long as it is open: with tonic's
//! default 8 KiB each, an acknowledgment stream held 32 KiB per connection
//! (two ends, both ways; measured with heaptrack in the `scale` benchmark).
//! Buffers still grow for a larger message; the users' services keep
//! tonic's defaults.

use tonic::codec::{BufferSettings, Codec};
use tonic_prost::ProstCodec;

/// Initial buffer per direction of a call.
const BUFFER: usize = 256;
/// Bytes encoded before the encoder yields (tonic's default).
const YIELD_THRESHOLD: usize = 32 * 1024;

/// [`ProstCodec`] with [`BUFFER`]-byte buffers.
#[derive(Debug)]
pub(crate) struct ControlCodec<T, U>(std::marker::PhantomData<(T, U)>);

impl<T, U> Default for ControlCodec<T, U> {
    fn default() -> Self {
        ControlCodec(std::marker::PhantomData)
    }
}

impl<T, U> Codec for ControlCodec<T, U>
where
    T: prost::Message + Send + 'static,
    U: prost::Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = <ProstCodec<T, U> as Codec>::Encoder;
    type Decoder = <ProstCodec<T, U> as Codec>::Decoder;

    fn encoder(&mut self) -> Self::Encoder {
        ProstCodec::<T, U>::raw_encoder(BufferSettings::new(BUFFER, YIELD_THRESHOLD))
    }

    fn decoder(&mut self) -> Self::Decoder {
        ProstCodec::<T, U>::raw_decoder(BufferSettings::new(BUFFER, YIELD_THRESHOLD))
    }
}
