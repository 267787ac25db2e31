#[allow(unused_imports)] // some cases fail before any use
use tsercom_test_build_wiring::legacy::*;

#[tsercom::runtime(producer, publish = "_twins._tcp", service = Twins, data = Sample, event = Sample)]
struct Pair;

fn main() {}
