//! Linear interpolation between two samples.

/// A value that can be linearly interpolated: `interpolate(a, b, 0.0) == a`,
/// `interpolate(a, b, 1.0) == b`.
///
/// Implemented for `f32`, `f64` and `Vec`s of them (element-wise; vectors of
/// different lengths give `None`). Implement it for your message type to use
/// [`RemoteDataAggregator::interpolated`](crate::data::RemoteDataAggregator::interpolated),
/// or project a field with
/// [`interpolated_with`](crate::data::RemoteDataAggregator::interpolated_with).
pub trait Interpolate: Sized {
    /// The value a fraction `t` (in `0.0..=1.0`) of the way from `a` to `b`,
    /// or `None` when the two cannot be interpolated.
    fn interpolate(a: &Self, b: &Self, t: f64) -> Option<Self>;
}

impl Interpolate for f64 {
    fn interpolate(a: &f64, b: &f64, t: f64) -> Option<f64> {
        Some(a + (b - a) * t)
    }
}

impl Interpolate for f32 {
    fn interpolate(a: &f32, b: &f32, t: f64) -> Option<f32> {
        #[allow(clippy::cast_possible_truncation)] // f32 in, f32 out: the narrowing is the point
        Some((f64::from(*a) + (f64::from(*b) - f64::from(*a)) * t) as f32)
    }
}

impl<T: Interpolate> Interpolate for Vec<T> {
    fn interpolate(a: &Vec<T>, b: &Vec<T>, t: f64) -> Option<Vec<T>> {
        if a.len() != b.len() {
            return None;
        }
        a.iter()
            .zip(b)
            .map(|(x, y)| T::interpolate(x, y, t))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_and_vectors() {
        assert_eq!(f64::interpolate(&1.0, &3.0, 0.25), Some(1.5));
        assert_eq!(f32::interpolate(&0.0, &1.0, 0.5), Some(0.5));
        assert_eq!(
            Vec::<f64>::interpolate(&vec![0.0, 10.0], &vec![1.0, 20.0], 0.5),
            Some(vec![0.5, 15.0])
        );
        assert_eq!(
            Vec::<f64>::interpolate(&vec![0.0], &vec![1.0, 2.0], 0.5),
            None
        );
    }
}
