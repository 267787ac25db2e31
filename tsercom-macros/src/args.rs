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
    "producer",
    "aggregator",
    "publish",
    "discover",
    "peers",
    "listen",
    "port",
    "interfaces",
    "service",
    "method",
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

/// Whose data flows: the runtime's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// Emits data, receives events.
    Producer,
    /// Collects data by CallerId, sends events.
    Aggregator,
}

/// Who listens: the runtime's direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    /// Serves the service (`publish` / `listen` / `port`).
    Host,
    /// Dials peers (`discover` / `peers`).
    Dial,
}

/// Addresses for `peers` / `listen`: literals checked at compile time,
/// an environment variable, or a field of the struct, read at `register`.
#[derive(Clone)]
pub(crate) enum Addrs {
    Literal(Vec<LitStr>),
    Env(LitStr),
    Field(syn::Member),
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
    pub(crate) role: Role,
    pub(crate) direction: Direction,
    pub(crate) publish: Option<LitStr>,
    pub(crate) discover: Option<LitStr>,
    pub(crate) peers: Option<Addrs>,
    pub(crate) listen: Option<Addrs>,
    pub(crate) port: Option<u16>,
    pub(crate) method: Option<syn::Path>,
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
    producer: bool,
    aggregator: bool,
    publish: Option<(Ident, LitStr)>,
    discover: Option<(Ident, LitStr)>,
    peers: Option<(Ident, Addrs)>,
    listen: Option<(Ident, Addrs)>,
    method: Option<syn::Path>,
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

/// Checks `host:port` (a DNS name, an IPv4 literal or a bracketed IPv6
/// literal), as `tsercom::discovery::StaticPeer::parse` does at run time.
/// `port 0` is allowed only when `any_port` (listening).
fn check_host_port(text: &str, any_port: bool) -> Result<(), String> {
    let text = text.trim();
    if text.parse::<SocketAddr>().is_ok() {
        return Ok(());
    }
    let Some((host, port)) = text.rsplit_once(':') else {
        return Err("expected `host:port`".into());
    };
    match port.parse::<u16>() {
        Ok(0) if !any_port => return Err("the port must be 1 to 65535".into()),
        Ok(_) => {}
        Err(_) => return Err(format!("`{port}` is not a port (1 to 65535)")),
    }
    if host.starts_with('[') || host.contains(':') {
        return Err("an IPv6 address goes in brackets, e.g. \"[::1]:50051\"".into());
    }
    let valid_label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    let name = host.strip_suffix('.').unwrap_or(host);
    if name.is_empty() || name.len() > 253 || !name.split('.').all(valid_label) {
        return Err(format!("`{host}` is not a host name or an IP address"));
    }
    Ok(())
}

/// `"host:port"`, `["host:port", ...]`, `env("VAR")` or `self.field`.
fn addrs(value: &Expr, key: &str, errors: &mut Errors) -> Option<Addrs> {
    match value {
        Expr::Call(call) => {
            let is_env = matches!(&*call.func, Expr::Path(p) if p.path.is_ident("env"));
            let arg = call.args.first().and_then(string);
            match (is_env, arg, call.args.len()) {
                (true, Some(var), 1) => {
                    let text = var.value();
                    if text.is_empty()
                        || !text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    {
                        errors.push(
                            var.span(),
                            format!(
                                "`{key}`: {text:?} is not an environment variable name (letters, digits and `_`)"
                            ),
                        );
                        return None;
                    }
                    Some(Addrs::Env(var))
                }
                _ => {
                    errors.push(
                        call.span(),
                        format!(
                            "`{key}`: expected `env(\"VARIABLE\")` (one string: the environment variable holding `host:port` entries separated by `,`)"
                        ),
                    );
                    None
                }
            }
        }
        Expr::Field(field) => {
            let on_self = matches!(&*field.base, Expr::Path(p) if p.path.is_ident("self"));
            if on_self {
                Some(Addrs::Field(field.member.clone()))
            } else {
                errors.push(
                    field.span(),
                    format!("`{key}`: only a field of the struct itself can be named, e.g. `{key} = self.{key}`"),
                );
                None
            }
        }
        other => {
            let lits: Option<Vec<LitStr>> = match other {
                Expr::Array(array) => array.elems.iter().map(string).collect(),
                single => string(single).map(|s| vec![s]),
            };
            let Some(lits) = lits else {
                errors.push(value.span(), format!("`{key}` expects {}", example(key)));
                return None;
            };
            if lits.is_empty() {
                errors.push(
                    value.span(),
                    format!("`{key}` is empty: list at least one address"),
                );
                return None;
            }
            let mut ok = true;
            for lit in &lits {
                if let Err(reason) = check_host_port(&lit.value(), key == "listen") {
                    errors.push(
                        lit.span(),
                        format!(
                            "`{key}`: {:?} is not an address: {reason}, e.g. \"localhost:50051\", \"10.0.0.5:50051\" or \"[::1]:50051\"",
                            lit.value()
                        ),
                    );
                    ok = false;
                }
            }
            ok.then_some(Addrs::Literal(lits))
        }
    }
}

/// `discover`: an mDNS service type, or `dns:` and a DNS-SD name beyond the
/// LAN (`dns:_sensors._tcp.fleet.example`).
fn check_discover(text: &str) -> Result<(), String> {
    let Some(name) = text.strip_prefix("dns:") else {
        return check_service_type(text);
    };
    let name = name.trim_end_matches('.');
    let mut labels = name.splitn(3, '.');
    let (Some(service), Some(proto), Some(domain)) = (labels.next(), labels.next(), labels.next())
    else {
        return Err(
            "after `dns:`, expected a service type and a domain, e.g. \"dns:_sensors._tcp.fleet.example\"".into(),
        );
    };
    check_service_type(&format!("{service}.{proto}"))?;
    if domain.split('.').any(str::is_empty) {
        return Err(format!("`{domain}` is not a domain name"));
    }
    Ok(())
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
        if key_name == "producer" || key_name == "aggregator" {
            if let Some(value) = &entry.value {
                errors.push(
                    value.span(),
                    format!("`{key_name}` takes no value: it is the runtime's role, e.g. `#[tsercom::runtime({key_name}, ...)]`"),
                );
            }
            if key_name == "producer" {
                seen.producer = true;
            } else {
                seen.aggregator = true;
            }
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
                let checked = if key_name == "publish" {
                    check_service_type(&lit.value())
                } else {
                    check_discover(&lit.value())
                };
                if let Err(reason) = checked {
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
            "peers" | "listen" => {
                if let Some(a) = addrs(value, &key_name, &mut errors) {
                    if key_name == "peers" {
                        seen.peers = Some((key.clone(), a));
                    } else {
                        seen.listen = Some((key.clone(), a));
                    }
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
            "service" | "method" | "data" | "event" | "config" => {
                let Some(p) = path(value) else {
                    expected(&mut errors);
                    continue;
                };
                match key_name.as_str() {
                    "service" => seen.service = Some(p),
                    "method" => seen.method = Some(p),
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

    // Role and direction, from the keys written (valid values or not): the
    // key written later is the one in conflict.
    let written = |key: &str| keys.iter().find(|(name, _)| name == key).map(|(_, k)| k);
    let position = |key: &Ident| {
        let name = key.unraw().to_string();
        keys.iter()
            .position(|(k, _)| *k == name)
            .unwrap_or(usize::MAX)
    };
    let later = |a: &'_ Ident, b: &'_ Ident| -> Ident {
        if position(a) > position(b) {
            a.clone()
        } else {
            b.clone()
        }
    };
    let role = match (written("producer"), written("aggregator")) {
        (Some(p), Some(a)) => {
            errors.push(
                later(p, a).span(),
                "`producer` and `aggregator` cannot both be set: a runtime has one role",
            );
            Role::Producer
        }
        (Some(_), None) => Role::Producer,
        (None, Some(_)) => Role::Aggregator,
        (None, None) => {
            errors.push(
                Span::call_site(),
                "missing role: start the attribute with `producer` (emits data, receives events) \
                 or `aggregator` (collects data by CallerId, sends events), \
                 e.g. `#[tsercom::runtime(producer, publish = \"_sensors._tcp\", ...)]`",
            );
            Role::Producer
        }
    };
    let hosts: Vec<&Ident> = ["publish", "listen", "port"]
        .into_iter()
        .filter_map(written)
        .collect();
    let dials: Vec<&Ident> = ["discover", "peers"]
        .into_iter()
        .filter_map(written)
        .collect();
    let direction = match (hosts.first(), dials.first()) {
        (Some(host), Some(dial)) => {
            errors.push(
                later(host, dial).span(),
                format!(
                    "`{host}` and `{dial}` cannot both be set: a runtime either hosts the service \
                     (`publish` / `listen`: peers dial it) or dials its peers (`discover` / `peers`), \
                     whatever its role"
                ),
            );
            Direction::Host
        }
        (Some(_), None) => Direction::Host,
        (None, Some(_)) => Direction::Dial,
        (None, None) => {
            errors.push(
                Span::call_site(),
                "missing direction: host the service with `publish = \"_name._tcp\"` (advertised over mDNS) \
                 or `listen = \"host:port\"`, or dial peers with `discover = \"_name._tcp\"` \
                 or `peers = [\"host:port\"]` (or `peers = env(\"VARIABLE\")`)",
            );
            Direction::Host
        }
    };
    if let (Some(_), Some(port_key)) = (written("listen"), written("port")) {
        errors.push(
            port_key.span(),
            "`port` and `listen` cannot both be set: `listen` already names the port",
        );
    }
    let mdns_discover = seen
        .discover
        .as_ref()
        .is_some_and(|(_, lit)| !lit.value().starts_with("dns:"));
    if let (None, false, Some(key)) = (written("publish"), mdns_discover, written("interfaces")) {
        errors.push(
            key.span(),
            "`interfaces` selects where mDNS runs: it needs `publish` or an mDNS `discover` (static `peers`, `listen` and `dns:` discovery use no mDNS)",
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

    let missing = || syn::Error::new(Span::call_site(), "internal: checked above");
    Ok(Args {
        role,
        direction,
        publish: seen.publish.map(|(_, l)| l),
        discover: seen.discover.map(|(_, l)| l),
        peers: seen.peers.map(|(_, a)| a),
        listen: seen.listen.map(|(_, a)| a),
        port: seen.port.map(|(_, p)| p),
        method: seen.method,
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
        "discover" => {
            "a service type string, e.g. `discover = \"_sensors._tcp\"` (mDNS) or `discover = \"dns:_sensors._tcp.fleet.example\"` (unicast DNS-SD)"
        }
        "peers" => {
            "a `host:port` string, a list of them, `env(\"VARIABLE\")` or `self.field`, e.g. `peers = [\"trainer.local:50051\"]`"
        }
        "listen" => {
            "a `host:port` string, a list of them, `env(\"VARIABLE\")` or `self.field`, e.g. `listen = \"0.0.0.0:50051\"`"
        }
        "method" => {
            "the name of one of the service's bidirectional methods, e.g. `method = Upload`"
        }
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
