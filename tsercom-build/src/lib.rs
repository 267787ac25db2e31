//! Build-time code generation for [tsercom](https://docs.rs/tsercom).
//!
//! Call it from `build.rs`; no system `protoc` is needed (protos are compiled
//! by [protox], a pure-Rust compiler):
//!
//! ```no_run
//! // build.rs
//! tsercom_build::configure()
//!     .compile(&["proto/sensors.proto"], &["proto"])
//!     .expect("compile protos");
//! ```
//!
//! and include the result with `tsercom::include_proto!("sensors");`.
//!
//! ```text
//!  .proto files ──protox──▶ descriptors ──prost-build──▶ messages (prost_path = <support>::__private::prost)
//!                               │               └──services──▶ tonic clients / servers (tonic:: → <support>::__private::tonic)
//!                               │                         └──▶ <service>_tsercom descriptors (prost's type paths)
//!                               └──wiring analysis──▶ HasCallerId / Timestamped impls
//!                                                        ▼
//!                                        $OUT_DIR/<package>.rs (one file, printed once)
//! ```
//!
//! What it does beyond plain tonic codegen:
//!
//! - tsercom's own protos are importable with no setup: `import
//!   "tsercom/time.proto";` (and the Python library's spellings `import
//!   "time.proto";`, `"caller_id.proto"`, `"common.proto"`, `"tensor.proto"`).
//!   Files in your include directories take precedence over the embedded ones.
//! - `tsercom.*` types map to `::tsercom::proto`, so your messages share
//!   tsercom's types.
//! - Generated code names tonic and prost through `::tsercom::__private`, so
//!   your crate depends on `tsercom` only.
//! - **Field wiring:** every message with a singular field of type
//!   `tsercom.CallerId` gets an impl of `tsercom::HasCallerId`, and every
//!   message with one of type `tsercom.ServerTimestamp` an impl of
//!   `tsercom::Timestamped`, whatever the field is called. A message with two
//!   such fields is a build error unless [`Builder::caller_id_field`] /
//!   [`Builder::timestamp_field`] picks one.
//! - `cargo:rerun-if-changed` is printed for every proto file read,
//!   imports included.
//! - Errors name `file:line:col`.
#![doc(html_root_url = "https://docs.rs/tsercom-build/0.1.0")]

mod codegen;
mod embedded;
mod error;
mod externs;
mod rewrite;
mod services;
mod wiring;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

use protox::file::{ChainFileResolver, FileResolver, GoogleFileResolver, IncludeFileResolver};

pub use error::{Error, ErrorKind, Location, Result};
use wiring::{Choices, Wire};

/// The file, in the output directory, holding the encoded
/// `FileDescriptorSet` of everything compiled (imports included), for
/// server reflection: `tsercom::include_file_descriptor_set!()`.
pub const DESCRIPTOR_SET_FILE: &str = "file_descriptor_set.bin";

/// Starts a [`Builder`] with the defaults: server and client code, support
/// crate `::tsercom`, output in `$OUT_DIR`.
pub fn configure() -> Builder {
    Builder::default()
}

/// Configures and runs code generation. Built by [`configure()`].
#[derive(Clone, Debug)]
pub struct Builder {
    build_server: bool,
    build_client: bool,
    out_dir: Option<PathBuf>,
    support_crate: String,
    emit_rerun_if_changed: Option<bool>,
    compile_tsercom_types: bool,
    extern_paths: Vec<(String, String)>,
    type_attributes: Vec<(String, String)>,
    message_attributes: Vec<(String, String)>,
    enum_attributes: Vec<(String, String)>,
    field_attributes: Vec<(String, String)>,
    choices: Choices,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            build_server: true,
            build_client: true,
            out_dir: None,
            support_crate: "::tsercom".to_owned(),
            emit_rerun_if_changed: None,
            compile_tsercom_types: false,
            extern_paths: Vec::new(),
            type_attributes: Vec::new(),
            message_attributes: Vec::new(),
            enum_attributes: Vec::new(),
            field_attributes: Vec::new(),
            choices: Choices::new(),
        }
    }
}

/// What a successful [`Builder::compile`] read and wrote.
#[derive(Clone, Debug, Default)]
pub struct Compiled {
    files_read: Vec<PathBuf>,
    generated: Vec<PathBuf>,
    wired: Vec<String>,
}

impl Compiled {
    /// Every proto file read from disk, imports included (the files for which
    /// `cargo:rerun-if-changed` was printed). Embedded tsercom protos and
    /// well-known types are not files and are not listed.
    pub fn files_read(&self) -> &[PathBuf] {
        &self.files_read
    }

    /// Every file written (or left unchanged because identical) in the
    /// output directory.
    pub fn generated_files(&self) -> &[PathBuf] {
        &self.generated
    }

    /// The wired fields, as `package.Message.field: Trait`, sorted.
    pub fn wired_fields(&self) -> &[String] {
        &self.wired
    }
}

impl Builder {
    /// Generate server code for services (default `true`).
    pub fn build_server(mut self, enable: bool) -> Self {
        self.build_server = enable;
        self
    }

    /// Generate client code for services (default `true`).
    pub fn build_client(mut self, enable: bool) -> Self {
        self.build_client = enable;
        self
    }

    /// Where to write the generated files (default `$OUT_DIR`).
    pub fn out_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.out_dir = Some(dir.as_ref().to_path_buf());
        self
    }

    /// The path of the support crate in generated code (default
    /// `::tsercom`); set it when the dependency is renamed in `Cargo.toml`,
    /// e.g. `"::my_tsercom"`.
    pub fn support_crate(mut self, path: impl Into<String>) -> Self {
        self.support_crate = path.into();
        self
    }

    /// Print `cargo:rerun-if-changed` lines (default: when run by cargo,
    /// i.e. when `OUT_DIR` is set and no `out_dir` was given).
    pub fn emit_rerun_if_changed(mut self, enable: bool) -> Self {
        self.emit_rerun_if_changed = Some(enable);
        self
    }

    /// Map a proto path to an existing Rust path, as
    /// `prost_build::Config::extern_path`.
    pub fn extern_path(
        mut self,
        proto_path: impl Into<String>,
        rust_path: impl Into<String>,
    ) -> Self {
        self.extern_paths
            .push((proto_path.into(), rust_path.into()));
        self
    }

    /// Add an attribute to matching messages and enums, as
    /// `prost_build::Config::type_attribute`.
    pub fn type_attribute(mut self, path: impl Into<String>, attribute: impl Into<String>) -> Self {
        self.type_attributes.push((path.into(), attribute.into()));
        self
    }

    /// Add an attribute to matching messages, as
    /// `prost_build::Config::message_attribute`.
    pub fn message_attribute(
        mut self,
        path: impl Into<String>,
        attribute: impl Into<String>,
    ) -> Self {
        self.message_attributes
            .push((path.into(), attribute.into()));
        self
    }

    /// Add an attribute to matching enums, as
    /// `prost_build::Config::enum_attribute`.
    pub fn enum_attribute(mut self, path: impl Into<String>, attribute: impl Into<String>) -> Self {
        self.enum_attributes.push((path.into(), attribute.into()));
        self
    }

    /// Add an attribute to matching fields, as
    /// `prost_build::Config::field_attribute`.
    pub fn field_attribute(
        mut self,
        path: impl Into<String>,
        attribute: impl Into<String>,
    ) -> Self {
        self.field_attributes.push((path.into(), attribute.into()));
        self
    }

    /// For a message with more than one singular `tsercom.CallerId` field,
    /// names the one `HasCallerId` reads and writes. `message` is the full
    /// proto name (`"sensors.Reading"`).
    pub fn caller_id_field(mut self, message: impl AsRef<str>, field: impl Into<String>) -> Self {
        let message = message.as_ref().trim_start_matches('.').to_owned();
        self.choices.insert((Wire::CallerId, message), field.into());
        self
    }

    /// For a message with more than one singular `tsercom.ServerTimestamp`
    /// field, names the one `Timestamped` reads and writes. `message` is the
    /// full proto name (`"sensors.Reading"`).
    pub fn timestamp_field(mut self, message: impl AsRef<str>, field: impl Into<String>) -> Self {
        let message = message.as_ref().trim_start_matches('.').to_owned();
        self.choices
            .insert((Wire::Timestamp, message), field.into());
        self
    }

    /// Generate Rust types for tsercom's own protos instead of mapping them
    /// to `<support>::proto`. Only the `tsercom` crate itself needs this.
    #[doc(hidden)]
    pub fn compile_tsercom_types(mut self, enable: bool) -> Self {
        self.compile_tsercom_types = enable;
        self
    }

    /// Compiles `protos` (paths under one of `includes`, or import names),
    /// then writes `<package>.rs` for every package into the output
    /// directory.
    pub fn compile<P, I>(self, protos: &[P], includes: &[I]) -> Result<Compiled>
    where
        P: AsRef<Path>,
        I: AsRef<Path>,
    {
        let includes: Vec<PathBuf> = includes.iter().map(|i| i.as_ref().to_path_buf()).collect();
        let support: syn::Path = syn::parse_str(&self.support_crate).map_err(|e| {
            Error::new(
                ErrorKind::InvalidSetting,
                None,
                format!(
                    "support_crate(\"{}\") is not a Rust path: {e}",
                    self.support_crate
                ),
            )
        })?;
        let support_str = quote::quote!(#support).to_string().replace(' ', "");
        let private = format!("{support_str}::__private");
        let private_path: syn::Path = syn::parse_quote!(#support::__private);

        let out_dir = match &self.out_dir {
            Some(dir) => dir.clone(),
            None => std::env::var_os("OUT_DIR").map(PathBuf::from).ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidSetting,
                    None,
                    "OUT_DIR is not set: call tsercom-build from build.rs, or set `out_dir(..)`",
                )
            })?,
        };

        // 1. Compile with protox.
        let mut resolver = ChainFileResolver::new();
        for include in &includes {
            resolver.add(IncludeFileResolver::new(include.clone()));
        }
        resolver.add(embedded::EmbeddedResolver);
        resolver.add(GoogleFileResolver::new());
        let resolver: Box<dyn FileResolver> = Box::new(resolver);
        let mut compiler = protox::Compiler::with_file_resolver(resolver);
        compiler.include_imports(true).include_source_info(true);
        for proto in protos {
            compiler
                .open_file(proto.as_ref())
                .map_err(|e| proto_error(&e, &includes))?;
        }

        // 2. Every file read from disk: tell cargo.
        let mut files_read: Vec<PathBuf> = compiler
            .files()
            .filter_map(|f| f.path().map(Path::to_path_buf))
            .collect();
        files_read.sort();
        files_read.dedup();
        let emit = self
            .emit_rerun_if_changed
            .unwrap_or(self.out_dir.is_none() && std::env::var_os("OUT_DIR").is_some());
        if emit {
            for path in &files_read {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
        let paths_by_name: HashMap<String, PathBuf> = compiler
            .files()
            .filter_map(|f| f.path().map(|p| (f.name().to_owned(), p.to_path_buf())))
            .collect();

        // The descriptor set, for reflection.
        fs::create_dir_all(&out_dir).map_err(|e| io_error(&out_dir, &e))?;
        let descriptor_path = out_dir.join(DESCRIPTOR_SET_FILE);
        {
            use prost::Message;
            let mut without_source_info = compiler.file_descriptor_set();
            for f in &mut without_source_info.file {
                f.source_code_info = None;
            }
            write_if_changed(&descriptor_path, &without_source_info.encode_to_vec())?;
        }

        // 3. Choose the files to generate. prost needs every file (its
        //    message graph must see imported types); the modules of the
        //    others are dropped after generation.
        let fds = compiler.file_descriptor_set();
        let wanted = |f: &prost_types::FileDescriptorProto| {
            let name = f.name();
            let embedded = embedded::is_embedded(name);
            let canonical_tsercom = name.starts_with("tsercom/") && embedded;
            if f.package() == "google.protobuf" {
                false
            } else if self.compile_tsercom_types {
                canonical_tsercom || !embedded
            } else {
                !embedded
            }
        };
        let wanted_packages: BTreeSet<String> = fds
            .file
            .iter()
            .filter(|f| wanted(f))
            .map(|f| f.package().to_owned())
            .collect();
        let requests: Vec<&prost_types::FileDescriptorProto> =
            fds.file.iter().filter(|f| wanted(f)).collect();

        // 4. Field wiring.
        let mut used = BTreeSet::new();
        let mut wirings: BTreeMap<String, Vec<wiring::Wiring>> = BTreeMap::new();
        let mut wired = Vec::new();
        for file in requests {
            let display = paths_by_name
                .get(file.name())
                .cloned()
                .unwrap_or_else(|| PathBuf::from(file.name()));
            let found = wiring::analyze(file, &display, &self.choices, &mut used)?;
            for w in &found {
                let trait_name = match w.wire {
                    Wire::CallerId => "HasCallerId",
                    Wire::Timestamp => "Timestamped",
                };
                wired.push(format!("{}.{}: {trait_name}", w.proto_name, w.field_name));
            }
            wirings
                .entry(file.package().to_owned())
                .or_default()
                .extend(found);
        }
        wired.sort();
        // Every message with a `Timestamped` impl, tsercom's own included
        // (for the service descriptors).
        let mut timestamped: BTreeSet<String> = wirings
            .values()
            .flatten()
            .filter(|w| w.wire == Wire::Timestamp)
            .map(|w| w.proto_name.clone())
            .collect();
        // Every message with a `HasCallerId` impl (what a stream without a
        // handshake, from a legacy peer, is identified by).
        let mut caller_ided: BTreeSet<String> = wirings
            .values()
            .flatten()
            .filter(|w| w.wire == Wire::CallerId)
            .map(|w| w.proto_name.clone())
            .collect();
        for file in fds.file.iter().filter(|f| embedded::is_embedded(f.name())) {
            let display = PathBuf::from(file.name());
            if let Ok(found) =
                wiring::analyze(file, &display, &Choices::new(), &mut BTreeSet::new())
            {
                for w in found {
                    match w.wire {
                        Wire::Timestamp => timestamped.insert(w.proto_name),
                        Wire::CallerId => caller_ided.insert(w.proto_name),
                    };
                }
            }
        }
        if let Some((wire, message)) = self.choices.keys().find(|k| !used.contains(*k)) {
            let setting = match wire {
                Wire::CallerId => "caller_id_field",
                Wire::Timestamp => "timestamp_field",
            };
            return Err(Error::new(
                ErrorKind::InvalidSetting,
                None,
                format!(
                    "`{setting}(\"{message}\", ..)` names no message that was compiled (use the full proto name, e.g. \"package.Message\")"
                ),
            ));
        }

        // 5. prost + tonic codegen, then one file per wanted package.
        let display = |name: &str| {
            paths_by_name
                .get(name)
                .cloned()
                .unwrap_or_else(|| PathBuf::from(name))
        };
        externs::check(&self.extern_paths, &fds.file, &display)?;
        let config = self.prost_config(&support_str);
        let tonic = (self.build_server || self.build_client).then(|| {
            tonic_prost_build::configure()
                .build_server(self.build_server)
                .build_client(self.build_client)
                .codec_path(if self.compile_tsercom_types {
                    // tsercom's own services: small control messages.
                    format!("{support_str}::rpc::codec::ControlCodec")
                } else {
                    format!("{private}::tonic_prost::ProstCodec")
                })
                .service_generator()
        });
        let packages = codegen::generate(config, tonic, &fds.file).map_err(|e| {
            Error::new(
                ErrorKind::Codegen,
                None,
                format!("code generation failed: {e}"),
            )
        })?;
        let services_cx = services::Context {
            files: &fds.file,
            display: &display,
            timestamped: &timestamped,
            caller_ided: &caller_ided,
            private: &private_path,
        };
        let mut generated = vec![descriptor_path];
        for (package, generated_package) in &packages {
            if !wanted_packages.contains(package) {
                continue;
            }
            let wiring = wirings.get(package).map(Vec::as_slice).unwrap_or_default();
            let text = package_file(
                package,
                generated_package,
                wiring,
                &services_cx,
                &private_path,
            )?;
            let module = prost_build::Module::from_protobuf_package_name(package);
            let path = out_dir.join(module.to_file_name_or("_"));
            write_if_changed(&path, text.as_bytes())?;
            generated.push(path);
        }

        Ok(Compiled {
            files_read,
            generated,
            wired,
        })
    }
}

impl Builder {
    /// prost-build's settings: its crate through `<support>::__private`,
    /// well-known types and tsercom's own types from the support crate,
    /// and the user's extern paths and attributes.
    fn prost_config(&self, support: &str) -> prost_build::Config {
        let mut config = prost_build::Config::new();
        config.prost_path(format!("{support}::__private::prost"));
        // Not through `__private`: prost snake-cases each segment of an
        // extern prefix path, which would turn `__private` into `private`.
        config.prost_types_path(format!("{support}::well_known_types"));
        if !self.compile_tsercom_types {
            config.extern_path(".tsercom", format!("{support}::proto"));
        }
        for (proto, rust) in &self.extern_paths {
            config.extern_path(proto, rust);
        }
        for (path, attr) in &self.type_attributes {
            config.type_attribute(path, attr);
        }
        for (path, attr) in &self.message_attributes {
            config.message_attribute(path, attr);
        }
        for (path, attr) in &self.enum_attributes {
            config.enum_attribute(path, attr);
        }
        for (path, attr) in &self.field_attributes {
            config.field_attribute(path, attr);
        }
        config
    }
}

/// The whole generated file of one package: prost's messages, tonic's
/// clients and servers, the field wiring and the service descriptors, as
/// one pretty-printed Rust file.
fn package_file(
    package: &str,
    generated: &codegen::Package,
    wiring: &[wiring::Wiring],
    services_cx: &services::Context<'_>,
    private: &syn::Path,
) -> Result<String> {
    let unparsable = |what: &str, e: syn::Error| {
        Error::new(
            ErrorKind::Codegen,
            None,
            format!("{what} for `{package}` does not parse: {e}"),
        )
    };
    let mut items =
        rewrite::prost_output(&generated.messages).map_err(|e| unparsable("prost's code", e))?;
    items.extend(
        rewrite::tonic_output(&generated.tonic, private)
            .map_err(|e| unparsable("tonic's code", e))?,
    );
    let wiring = wiring::generate(wiring, private);
    let wiring: syn::File = syn::parse2(wiring).map_err(|e| unparsable("the wiring", e))?;
    items.extend(wiring.items);
    let descriptors = services::generate(&generated.services, services_cx)?;
    let descriptors: syn::File =
        syn::parse2(descriptors).map_err(|e| unparsable("the service descriptors", e))?;
    items.extend(descriptors.items);
    Ok(prettyplease::unparse(&syn::File {
        shebang: None,
        attrs: Vec::new(),
        items,
    }))
}

fn write_if_changed(path: &Path, content: &[u8]) -> Result<()> {
    if fs::read(path).ok().as_deref() == Some(content) {
        return Ok(());
    }
    fs::write(path, content).map_err(|e| io_error(path, &e))
}

fn io_error(path: &Path, e: &std::io::Error) -> Error {
    Error::new(ErrorKind::Io, None, format!("{}: {e}", path.display()))
}

/// Turns a protox error into ours, with `file:line:col` from its primary label.
fn proto_error(err: &protox::Error, includes: &[PathBuf]) -> Error {
    use miette::Diagnostic;
    let mut message = err.to_string();
    let mut location = None;
    let label = err.labels().and_then(|mut labels| labels.next());
    if let Some(label) = label {
        if let Some(source) = err.source_code()
            && let Ok(contents) = source.read_span(label.inner(), 0, 0)
        {
            let name = contents
                .name()
                .map(str::to_owned)
                .or_else(|| err.file().map(str::to_owned));
            if let Some(name) = name {
                location = Some(Location {
                    file: display_path(&name, includes),
                    line: contents.line() + 1,
                    column: contents.column() + 1,
                });
            }
        }
        if let Some(text) = label.label()
            && !message.contains(text)
        {
            message = format!("{message} ({text})");
        }
    }
    if let Some(help) = err.help() {
        message = format!("{message}\n  help: {help}");
    }
    Error::new(ErrorKind::Proto, location, message)
}

/// The filesystem path of an import name, where an include directory has it.
fn display_path(name: &str, includes: &[PathBuf]) -> PathBuf {
    includes
        .iter()
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from(name))
}
