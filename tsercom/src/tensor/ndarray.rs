//! Conversions to and from `ndarray` (feature `ndarray`).

use ndarray::{ArrayD, IxDyn};

use super::{Element, Tensor, TensorError};

impl Tensor {
    /// The tensor as an `ndarray` of `T` (its shape, row-major).
    ///
    /// # Errors
    /// [`TensorError::DTypeMismatch`] when `T` is not its dtype.
    pub fn to_ndarray<T: Element>(&self) -> Result<ArrayD<T>, TensorError> {
        let values = self.to_vec::<T>()?;
        ArrayD::from_shape_vec(IxDyn(self.shape()), values).map_err(|e| TensorError::Invalid {
            what: "ndarray shape",
            reason: e.to_string(),
        })
    }

    /// A tensor of `array`'s shape and elements (any memory layout; read in
    /// logical row-major order).
    pub fn from_ndarray<T: Element>(array: &ArrayD<T>) -> Tensor {
        let values: Vec<T> = array.iter().copied().collect();
        match Tensor::from_slice(array.shape(), &values) {
            Ok(t) => t,
            // The shape's element count is the array's length by construction.
            Err(e) => unreachable!("ndarray shape and length disagree: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_including_transposed_views() {
        let a = ArrayD::from_shape_vec(IxDyn(&[2, 3]), vec![1i32, 2, 3, 4, 5, 6]).expect("array");
        let t = Tensor::from_ndarray(&a);
        assert_eq!(t.shape(), &[2, 3]);
        assert_eq!(t.to_ndarray::<i32>(), Ok(a.clone()));
        let transposed = a.t().to_owned().into_dyn();
        let t2 = Tensor::from_ndarray(&transposed);
        assert_eq!(t2.shape(), &[3, 2]);
        assert_eq!(t2.to_vec::<i32>(), Ok(vec![1, 4, 2, 5, 3, 6]));
        assert!(t.to_ndarray::<f32>().is_err());
    }
}
