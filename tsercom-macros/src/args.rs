//! Parsing `#[tsercom::runtime(...)]`'s arguments: every entry is read, and
//! every problem is collected, so one compile reports all of them.

use std::net::SocketAddr;

use proc_macro2::{Span, TokenStream};
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, Ident, Lit, LitStr, Token};

/// Every key, in the order the error messages list them.
pub(crate) const KEYS: &[&str] = &[
    "publish",
    "discover",
    "peers",
    "listen",
    "port",
    "interfaces",
    "service",
    "data",
    "event",
    "name",
    "config",
    "hooks",
    "crate",
];

fn valid_keys() -> String {
    KEYS.iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One `key` or `key = value` entry.
struct Entry {
    key: Ident,
    value: Option<Expr>,
}

impl Parse for Entry {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        // `crate` is a keyword: accept any identifier-like token.
        let key = input.call(Ident::parse_any)?;
        let value = if input.peek(Token![=]) {
            input.parse::<Token![=]>()?;
            Some(input.parse()?)
        } else {
            None
        };
        Ok(Entry { key, value })
    }
}

/// Which side of the stream a runtime is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    /// Hosts the service (`publish` / `listen`).
    Producer,
    /// Dials producers (`discover` / `peers`).
    Aggregator,
}

/// `interfaces = "..."`: where mDNS runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum InterfacesSpec {
    All,
    Loopback,
    V4,
    V6,
    Named(Vec<String>),
}

impl InterfacesSpec {
    /// As `tsercom::discovery::Interfaces::parse` does at run time.
    fn parse(text: &str) -> Option<Self> {
        Some(match text.trim() {
            "all" => Self::All,
            "loopback" => Self::Loopback,
            "ipv4" => Self::V4,
            "ipv6" => Self::V6,
            names => {
                let names: Vec<String> = names.split(',').map(|n| n.trim().to_owned()).collect();
                if names
                    .iter()
                    .any(|n| n.is_empty() || n.contains(char::is_whitespace))
                {
                    return None;
                }
                Self::Named(names)
            }
        })
    }
}

/// The parsed arguments.
pub(crate) struct Args {
    pub(crate) side: Side,
    pub(crate) publish: Option<LitStr>,
    pub(crate) discover: Option<LitStr>,
    pub(crate) peers: Vec<SocketAddr>,
    pub(crate) listen: Option<SocketAddr>,
    pub(crate) interfaces: Option<InterfacesSpec>,
    pub(crate) service: syn::Path,
    pub(crate) data: syn::Path,
    pub(crate) event: syn::Path,
    pub(crate) name: Option<LitStr>,
    pub(crate) config: Option<syn::Path>,
    pub(crate) hooks: bool,
    pub(crate) krate: syn::Path,
}

/// Collects errors; combined into one at the end.
#[derive(Default)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    pub(crate) fn push(&mut self, span: Span, message: impl std::fmt::Display) {
        let error = syn::Error::new(span, message);
        match &mut self.0 {
            Some(all) => all.combine(error),
            None => self.0 = Some(error),
        }
    }

    pub(crate) fn push_error(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(error),
            None => self.0 = Some(error),
        }
    }

    pub(crate) fn into_result(self) -> Result<(), syn::Error> {
        self.0.map_or(Ok(()), Err)
    }
}

#[derive(Default)]
struct Seen {
    publish: Option<(Ident, LitStr)>,
    discover: Option<(Ident, LitStr)>,
    peers: Option<(Ident, Vec<SocketAddr>)>,
    listen: Option<(Ident, SocketAddr)>,
    port: Option<(Ident, u16)>,
    interfaces: Option<InterfacesSpec>,
    service: Option<syn::Path>,
    data: Option<syn::Path>,
    event: Option<syn::Path>,
    name: Option<LitStr>,
    config: Option<syn::Path>,
    hooks: bool,
    krate: Option<syn::Path>,
}

fn string(value: &Expr) -> Option<LitStr> {
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => Some(s.clone()),
        _ => None,
    }
}

fn path(value: &Expr) -> Option<syn::Path> {
    match value {
        Expr::Path(p) if p.qself.is_none() && p.attrs.is_empty() => Some(p.path.clone()),
        _ => None,
    }
}

/// Checks `_name._tcp` / `_name._udp` (optionally `.local` / `.local.`),
/// as `tsercom::discovery::normalize_service_type` does at run time.
fn check_service_type(text: &str) -> Result<(), String> {
    let trimmed = text.trim_end_matches('.');
    let trimmed = trimmed.strip_suffix(".local").unwrap_or(trimmed);
    let mut parts = trimmed.split('.');
    let (Some(name), Some(proto), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err("expected `_name._tcp` (or `_name._udp`), e.g. \"_sensors._tcp\"".into());
    };
    if proto != "_tcp" && proto != "_udp" {
        return Err(format!(
            "the protocol part is `{proto}`; expected `_tcp` or `_udp`"
        ));
    }
    let Some(bare) = name.strip_prefix('_') else {
        return Err(format!("the name part `{name}` must start with `_`"));
    };
    if bare.is_empty() || bare.len() > 15 {
        return Err(format!("the name `{bare}` must have 1 to 15 characters"));
    }
    if !bare.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(format!(
            "the name `{bare}` may only hold letters, digits and `-`"
        ));
    }
    Ok(())
}

fn socket_addr(lit: &LitStr, key: &str, errors: &mut Errors) -> Option<SocketAddr> {
    match lit.value().trim().parse::<SocketAddr>() {
        Ok(addr) => Some(addr),
        Err(_) => {
            errors.push(
                lit.span(),
                format!(
                    "`{key}`: {:?} is not an `ip:port` address, e.g. \"127.0.0.1:50051\" or \"[::1]:50051\"",
                    lit.value()
                ),
            );
            None
        }
    }
}

/// Parses and checks the arguments; `Err` holds every problem found.
pub(crate) fn parse(attr: TokenStream) -> Result<Args, syn::Error> {
    let entries = Punctuated::<Entry, Token![,]>::parse_terminated.parse2(attr)?;
    let mut errors = Errors::default();
    let mut seen = Seen::default();
    // Every valid key written, with its token, valid value or not.
    let mut keys: Vec<(String, Ident)> = Vec::new();
    for entry in entries {
        let key_name = entry.key.unraw().to_string();
        let key = &entry.key;
        if !KEYS.contains(&key_name.as_str()) {
            let hint = KEYS
                .iter()
                .find(|k| edit_distance(k, &key_name) <= 2)
                .map(|k| format!(" (did you mean `{k}`?)"))
                .unwrap_or_default();
            errors.push(
                key.span(),
                format!(
                    "unknown key `{key_name}`{hint}; valid keys: {}",
                    valid_keys()
                ),
            );
            continue;
        }
        if keys.iter().any(|(k, _)| *k == key_name) {
            errors.push(key.span(), format!("duplicate key `{key_name}`"));
            continue;
        }
        keys.push((key_name.clone(), key.clone()));
        if key_name == "hooks" {
            if let Some(value) = &entry.value {
                errors.push(
                    value.span(),
                    "`hooks` takes no value: write `hooks` and implement `tsercom::service::Hooks` for the struct",
                );
            }
            seen.hooks = true;
            continue;
        }
        let Some(value) = &entry.value else {
            errors.push(
                key.span(),
                format!("`{key_name}` needs a value: {}", example(&key_name)),
            );
            continue;
        };
        let expected = |errors: &mut Errors| {
            errors.push(
                value.span(),
                format!("`{key_name}` expects {}", example(&key_name)),
            );
        };
        match key_name.as_str() {
            "publish" | "discover" => {
                let Some(lit) = string(value) else {
                    expected(&mut errors);
                    continue;
                };
                if let Err(reason) = check_service_type(&lit.value()) {
                    errors.push(
                        lit.span(),
                        format!(
                            "`{key_name}`: {:?} is not a service type: {reason}",
                            lit.value()
                        ),
                    );
                    continue;
                }
                if key_name == "publish" {
                    seen.publish = Some((key.clone(), lit));
                } else {
                    seen.discover = Some((key.clone(), lit));
                }
            }
            "peers" => {
                let lits: Option<Vec<LitStr>> = match value {
                    Expr::Array(array) => array.elems.iter().map(string).collect(),
                    other => string(other).map(|s| vec![s]),
                };
                let Some(lits) = lits else {
                    expected(&mut errors);
                    continue;
                };
                if lits.is_empty() {
                    errors.push(value.span(), "`peers` is empty: list at least one address");
                    continue;
                }
                let addrs: Vec<SocketAddr> = lits
                    .iter()
                    .filter_map(|l| socket_addr(l, "peers", &mut errors))
                    .collect();
                seen.peers = Some((key.clone(), addrs));
            }
            "listen" => {
                let Some(lit) = string(value) else {
                    expected(&mut errors);
                    continue;
                };
                if let Some(addr) = socket_addr(&lit, "listen", &mut errors) {
                    seen.listen = Some((key.clone(), addr));
                }
            }
            "interfaces" => {
                let Some(lit) = string(value) else {
                    expected(&mut errors);
                    continue;
                };
                match InterfacesSpec::parse(&lit.value()) {
                    Some(spec) => seen.interfaces = Some(spec),
                    None => errors.push(
                        lit.span(),
                        format!(
                            "`interfaces`: {:?} is not a selection; expected \"all\", \"loopback\", \"ipv4\", \"ipv6\" or interface names separated by ',', e.g. \"eth0,eth1\"",
                            lit.value()
                        ),
                    ),
                }
            }
            "port" => {
                let port = match value {
                    Expr::Lit(ExprLit {
                        lit: Lit::Int(int), ..
                    }) => int.base10_parse::<u16>().ok(),
                    _ => None,
                };
                match port {
                    Some(port) => seen.port = Some((key.clone(), port)),
                    None => expected(&mut errors),
                }
            }
            "service" | "data" | "event" | "config" => {
                let Some(p) = path(value) else {
                    expected(&mut errors);
                    continue;
                };
                match key_name.as_str() {
                    "service" => seen.service = Some(p),
                    "data" => seen.data = Some(p),
                    "event" => seen.event = Some(p),
                    _ => seen.config = Some(p),
                }
            }
            "name" => {
                let Some(lit) = string(value) else {
                    expected(&mut errors);
                    continue;
                };
                let text = lit.value();
                if text.is_empty()
                    || text.len() > 40
                    || !text
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                {
                    errors.push(
                        lit.span(),
                        format!(
                            "`name`: {text:?} must be 1 to 40 letters, digits, `-` or `_` (it names the CallerId file and the mDNS instance)"
                        ),
                    );
                    continue;
                }
                seen.name = Some(lit);
            }
            "crate" => {
                let Some(lit) = string(value) else {
                    expected(&mut errors);
                    continue;
                };
                match lit.parse::<syn::Path>() {
                    Ok(mut p) => {
                        if p.leading_colon.is_none()
                            && p.segments.len() == 1
                            && p.segments[0].ident != "crate"
                        {
                            p.leading_colon = Some(Token![::](lit.span()));
                        }
                        seen.krate = Some(p);
                    }
                    Err(_) => errors.push(
                        lit.span(),
                        format!("`crate`: {:?} is not a path, e.g. \"tsercom\"", lit.value()),
                    ),
                }
            }
            _ => {}
        }
    }

    // Roles, from the keys written (valid values or not): the key written
    // later is the one in conflict.
    let written = |key: &str| keys.iter().find(|(name, _)| name == key).map(|(_, k)| k);
    let hosts: Vec<&Ident> = ["publish", "listen"]
        .into_iter()
        .filter_map(written)
        .collect();
    let dials: Vec<&Ident> = ["discover", "peers"]
        .into_iter()
        .filter_map(written)
        .collect();
    let position = |key: &Ident| {
        let name = key.unraw().to_string();
        keys.iter()
            .position(|(k, _)| *k == name)
            .unwrap_or(usize::MAX)
    };
    let side = match (hosts.first(), dials.first()) {
        (Some(host), Some(dial)) => {
            let later = if position(host) > position(dial) {
                host
            } else {
                dial
            };
            errors.push(
                later.span(),
                format!(
                    "`{host}` and `{dial}` cannot both be set: a runtime either hosts the service \
                     (`publish` / `listen`: a producer) or dials producers (`discover` / `peers`: \
                     an aggregator)"
                ),
            );
            Side::Producer
        }
        (Some(_), None) => Side::Producer,
        (None, Some(_)) => Side::Aggregator,
        (None, None) => {
            errors.push(
                Span::call_site(),
                "missing role: add `publish = \"_name._tcp\"` or `listen = \"ip:port\"` (a producer), \
                 or `discover = \"_name._tcp\"` or `peers = [\"ip:port\"]` (an aggregator)",
            );
            Side::Producer
        }
    };
    if let (Some(_), Some(key)) = (written("discover"), written("peers")) {
        {
            errors.push(
                key.span(),
                "`discover` and `peers` cannot both be set: find producers over mDNS or list them",
            );
        }
    }
    if let (Some(_), Some(port_key)) = (written("listen"), written("port")) {
        errors.push(
            port_key.span(),
            "`port` and `listen` cannot both be set: `listen` already names the port",
        );
    }
    if let (Side::Aggregator, Some(port_key)) = (side, written("port")) {
        {
            errors.push(
                port_key.span(),
                "`port` is for producers (`publish`): an aggregator dials and does not listen",
            );
        }
    }
    if let (None, None, Some(key)) = (
        written("publish"),
        written("discover"),
        written("interfaces"),
    ) {
        errors.push(
            key.span(),
            "`interfaces` selects where mDNS runs: it needs `publish` or `discover` (static `peers` and `listen` use no mDNS)",
        );
    }
    for key in ["service", "data", "event"] {
        if written(key).is_none() {
            errors.push(
                Span::call_site(),
                format!("missing key `{key}`: {}", example(key)),
            );
        }
    }
    errors.into_result()?;

    let listen = seen
        .listen
        .map(|(_, a)| a)
        .or_else(|| seen.port.map(|(_, p)| SocketAddr::from(([0, 0, 0, 0], p))));
    let missing = || syn::Error::new(Span::call_site(), "internal: checked above");
    Ok(Args {
        side,
        publish: seen.publish.map(|(_, l)| l),
        discover: seen.discover.map(|(_, l)| l),
        peers: seen.peers.map(|(_, a)| a).unwrap_or_default(),
        listen,
        interfaces: seen.interfaces,
        service: seen.service.ok_or_else(missing)?,
        data: seen.data.ok_or_else(missing)?,
        event: seen.event.ok_or_else(missing)?,
        name: seen.name,
        config: seen.config,
        hooks: seen.hooks,
        krate: seen.krate.unwrap_or_else(|| syn::parse_quote!(::tsercom)),
    })
}

/// Levenshtein distance, for "did you mean" hints.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()]
}

fn example(key: &str) -> &'static str {
    match key {
        "publish" => "a service type string, e.g. `publish = \"_sensors._tcp\"`",
        "discover" => "a service type string, e.g. `discover = \"_sensors._tcp\"`",
        "peers" => "an address string or a list of them, e.g. `peers = [\"127.0.0.1:50051\"]`",
        "listen" => "an address string, e.g. `listen = \"127.0.0.1:50051\"`",
        "port" => "a port number, e.g. `port = 50051`",
        "interfaces" => "a string, e.g. `interfaces = \"loopback\"`",
        "service" => "the service's name, e.g. `service = Sensor`",
        "data" => "the stream's data message, e.g. `data = Reading`",
        "event" => "the stream's event message, e.g. `event = Command`",
        "name" => "a string, e.g. `name = \"thermometer\"`",
        "config" => "a function `fn(RuntimeConfig) -> RuntimeConfig`, e.g. `config = my_config`",
        "crate" => "the path of the tsercom crate as a string, e.g. `crate = \"tsercom\"`",
        _ => "no value",
    }
}
