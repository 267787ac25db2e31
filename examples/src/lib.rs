//! Generated code shared by the examples.

tsercom::include_proto!("sensors");
