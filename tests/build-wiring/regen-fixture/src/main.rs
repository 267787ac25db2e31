//! Prints the Debug of a default `Reading`, so the test sees the fields the
//! current proto generates.
tsercom::include_proto!("regen");

fn main() {
    println!("{:?}", Reading::default());
}
