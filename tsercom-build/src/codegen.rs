//! Runs prost-build and tonic-prost-build and keeps their outputs apart:
//! prost's messages per package, and, per package, the services as prost
//! resolved them (`prost_build::Service`, whose request and response types
//! are the Rust paths prost itself chose) with the code tonic generated for
//! them.
//!
//! Nothing here rewrites code by name: prost is told its crate path through
//! its own settings (`prost_path`, `prost_types_path`, `extern_path`), and
//! the one adjustment tonic's output needs is made in [`crate::rewrite`].

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use prost_build::{Module, Service, ServiceGenerator};

/// What code generation produced for one proto package.
#[derive(Debug, Default)]
pub(crate) struct Package {
    /// prost's code for the package's messages and enums (may be empty).
    pub(crate) messages: String,
    /// The package's services, with prost's Rust paths for their types.
    pub(crate) services: Vec<Service>,
    /// tonic's client and server modules for those services (may be empty).
    pub(crate) tonic: String,
}

/// Services and tonic's code for them, by proto package.
#[derive(Debug, Default)]
struct Captured {
    services: BTreeMap<String, Vec<Service>>,
    tonic: BTreeMap<String, String>,
}

/// A prost `ServiceGenerator` that records every service and hands it to
/// tonic's generator (when clients or servers are wanted), keeping tonic's
/// output out of prost's module text.
struct Capture {
    tonic: Option<Box<dyn ServiceGenerator>>,
    captured: Rc<RefCell<Captured>>,
}

impl ServiceGenerator for Capture {
    fn generate(&mut self, service: Service, _buf: &mut String) {
        let mut captured = self.captured.borrow_mut();
        let package = service.package.clone();
        if let Some(tonic) = &mut self.tonic {
            let text = captured.tonic.entry(package.clone()).or_default();
            tonic.generate(service.clone(), text);
        }
        captured.services.entry(package).or_default().push(service);
    }

    fn finalize_package(&mut self, package: &str, _buf: &mut String) {
        if let Some(tonic) = &mut self.tonic {
            let mut captured = self.captured.borrow_mut();
            let text = captured.tonic.entry(package.to_owned()).or_default();
            tonic.finalize_package(package, text);
        }
    }
}

/// Runs `config` (with the service generator installed here) on every file
/// of `files`. `tonic` is tonic's service generator, when clients or
/// servers are wanted.
pub(crate) fn generate(
    mut config: prost_build::Config,
    tonic: Option<Box<dyn ServiceGenerator>>,
    files: &[prost_types::FileDescriptorProto],
) -> std::io::Result<BTreeMap<String, Package>> {
    let captured = Rc::new(RefCell::new(Captured::default()));
    config.service_generator(Box::new(Capture {
        tonic,
        captured: Rc::clone(&captured),
    }));
    let requests = files
        .iter()
        .map(|f| (Module::from_protobuf_package_name(f.package()), f.clone()))
        .collect();
    let modules = config.generate(requests)?;
    drop(config);

    let mut packages: BTreeMap<String, Package> = BTreeMap::new();
    for (module, messages) in modules {
        let package = module.parts().collect::<Vec<_>>().join(".");
        packages.entry(package).or_default().messages = messages;
    }
    let captured = std::mem::take(&mut *captured.borrow_mut());
    for (package, services) in captured.services {
        packages.entry(package).or_default().services = services;
    }
    for (package, tonic) in captured.tonic {
        packages.entry(package).or_default().tonic = tonic;
    }
    Ok(packages)
}
