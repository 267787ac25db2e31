//! Parsing `#[tsercom::runtime(...)]`'s arguments: every entry is read, and
//! every problem is collected, so one compile reports all of them.

use proc_macro2::{Span, TokenStream};
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, Ident, Lit, LitStr, Token};

pub(crate) use crate::values::InterfaceSelection;
use crate::values::{
    addrs, check_discover, check_service_type, edit_distance, example, path, string,
};

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
    pub(crate) interfaces: Option<InterfaceSelection>,
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
    interfaces: Option<InterfaceSelection>,
    service: Option<syn::Path>,
    data: Option<syn::Path>,
    event: Option<syn::Path>,
    name: Option<LitStr>,
    config: Option<syn::Path>,
    hooks: bool,
    krate: Option<syn::Path>,
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
                match tsercom_validate::parse_interfaces(&lit.value()) {
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
                    "method" => match p.get_ident() {
                        Some(_) => seen.method = Some(p),
                        None => errors.push(
                            value.span(),
                            "`method` expects the method's name alone, as tsercom-build names it (UpperCamel), e.g. `method = Upload`",
                        ),
                    },
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
