#[allow(unused_imports)] // some cases fail before any use
use tsercom_test_build_wiring::*;

#[tsercom::runtime(producer, peers = env(), service = Trainer, data = Reading, event = Command)]
struct NoVariable;

#[tsercom::runtime(producer, peers = env("A", "B"), service = Trainer, data = Reading, event = Command)]
struct TwoVariables;

#[tsercom::runtime(producer, peers = env(TRAINER), service = Trainer, data = Reading, event = Command)]
struct NotAString;

#[tsercom::runtime(producer, peers = env("not a name"), service = Trainer, data = Reading, event = Command)]
struct BadName;

#[tsercom::runtime(producer, peers = var("TRAINER"), service = Trainer, data = Reading, event = Command)]
struct NotEnv;

#[tsercom::runtime(producer, peers = other.trainer, service = Trainer, data = Reading, event = Command)]
struct NotSelf;

fn main() {}
