//! Secret hygiene: key material never reaches a `Debug` output.
//!
//! The check parses every `.rs` file under `crates/*/src` and applies three rules.
//!
//! *Secret types* are the types whose values are key material: the wrappers of the crates
//! keyvault builds on ([`EXTERNAL`]: `secrecy`'s boxes, `Zeroizing`, HMAC and AEAD cipher
//! states), keyvault's own ([`WORKSPACE`]: each must still exist, so the list cannot go stale),
//! every workspace type that derives `Zeroize` or `ZeroizeOnDrop`, and every type alias of one
//! of them. A struct or enum is *key-holding* if it is a workspace secret type, if a field's
//! type mentions a secret type, or if a field's type mentions a key-holding type that is not a
//! *redaction boundary* (a type whose hand-written `Debug` passes rules 2 and 3).
//!
//! 1. A key-holding type must not derive `Debug` (directly or through `cfg_attr`).
//! 2. A hand-written `Debug` of a key-holding type must not format a field whose type mentions
//!    a secret or key-holding type. Such a field may appear only as `self.f.len()`,
//!    `.is_empty()` or `.keys()` (sizes and map keys), or whole when every such type in it is a
//!    redaction boundary (`SecretKey` prints `SecretKey([REDACTED])`). `expose_secret` must not
//!    appear at all.
//! 3. A workspace secret type's hand-written `Debug` must visibly redact: a string containing
//!    `REDACTED`, or `finish_non_exhaustive()` after the fields it may show.
//!
//! So a type holding keys only through redaction boundaries (a list of `LegacyKey`s) may
//! derive `Debug`: it can show only what their hand-written impls show. The rules read fields
//! and tokens, not types as the compiler resolves them: names are compared by their last path
//! segment, and helper methods called from a `Debug` body (other than `expose_secret`) are not
//! followed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use proc_macro2::{Delimiter, TokenStream, TokenTree};
use quote::ToTokens;
use syn::visit::Visit;

use super::Outcome;

/// Secret types of the crates keyvault builds on.
pub(crate) const EXTERNAL: &[&str] = &[
    "Secret",
    "SecretBox",
    "SecretSlice",
    "SecretString",
    "SecretVec",
    "Zeroizing",
    "Hmac",
    "SimpleHmac",
    "ChaCha20Poly1305",
    "XChaCha20Poly1305",
    "Aes256Gcm",
    "LessSafeKey",
    "UnboundKey",
];

/// keyvault's own secret types: keys (`SecretKey`), keyed cipher and MAC states (`AeadKey`,
/// `HmacSha256`) and the store's stored key material (`Material`).
pub(crate) const WORKSPACE: &[&str] = &["SecretKey", "AeadKey", "HmacSha256", "Material"];

/// Calls on a secret field that reveal nothing of its contents.
const HARMLESS: &[&str] = &["len", "is_empty", "keys"];

/// One source file.
pub(crate) struct Source {
    /// The crate it belongs to (types are matched to `Debug` impls within a crate).
    pub(crate) krate: String,
    /// Path shown in findings.
    pub(crate) path: String,
    /// Its text.
    pub(crate) text: String,
}

/// What the check found.
#[derive(Debug, Default)]
pub(crate) struct Findings {
    /// Rule violations, each naming file and line.
    pub(crate) violations: Vec<String>,
    /// Key-holding types found.
    pub(crate) key_holding: usize,
    /// Their names, with the crate (`crate::Type`).
    pub(crate) key_holding_names: Vec<String>,
    /// Hand-written `Debug` impls of key-holding types checked.
    pub(crate) manual_debug: usize,
    /// Workspace secret types found (those of [`WORKSPACE`] and the `Zeroize` derivers).
    pub(crate) secret_types: Vec<String>,
    /// Rule violations of the latest round.
    rule_violations: Vec<String>,
}

/// Runs the check over `crates/*/src`.
pub(crate) fn check(root: &Path) -> Outcome {
    let sources = match read_sources(root) {
        Ok(sources) => sources,
        Err(err) => return Outcome::fail(err),
    };
    let findings = analyze(&sources);
    if findings.violations.is_empty() {
        Outcome::pass(format!(
            "{} files: {} key-holding types, none derives Debug; {} hand-written Debug impls \
             redact; secret types: {}",
            sources.len(),
            findings.key_holding,
            findings.manual_debug,
            findings.secret_types.join(", ")
        ))
        .with_notes(vec![format!(
            "key-holding types checked: {}",
            findings.key_holding_names.join(", ")
        )])
    } else {
        Outcome::fail(format!(
            "{} violation(s): {}",
            findings.violations.len(),
            findings.violations.first().map_or("", String::as_str)
        ))
        .with_notes(findings.violations)
    }
}

fn read_sources(root: &Path) -> Result<Vec<Source>, String> {
    let crates = root.join("crates");
    let mut sources = Vec::new();
    let entries =
        std::fs::read_dir(&crates).map_err(|err| format!("reading {}: {err}", crates.display()))?;
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .collect();
    dirs.sort();
    for dir in dirs {
        let krate = dir
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut files = Vec::new();
        walk(&dir.join("src"), &mut files)?;
        files.sort();
        for file in files {
            let text = std::fs::read_to_string(&file)
                .map_err(|err| format!("reading {}: {err}", file.display()))?;
            sources.push(Source {
                krate: krate.clone(),
                path: super::shown(root, &file),
                text,
            });
        }
    }
    Ok(sources)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries {
        let path = entry
            .map_err(|err| format!("reading {}: {err}", dir.display()))?
            .path();
        if path.is_dir() {
            walk(&path, out)?;
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
    Ok(())
}

/// A token, flattened: groups become open and close markers.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    Ident(String),
    Punct(char),
    Literal(String),
    Open(Delimiter),
    Close,
}

fn flatten(stream: TokenStream, out: &mut Vec<Tok>) {
    for tree in stream {
        match tree {
            TokenTree::Ident(ident) => out.push(Tok::Ident(ident.to_string())),
            TokenTree::Punct(punct) => out.push(Tok::Punct(punct.as_char())),
            TokenTree::Literal(literal) => out.push(Tok::Literal(literal.to_string())),
            TokenTree::Group(group) => {
                out.push(Tok::Open(group.delimiter()));
                flatten(group.stream(), out);
                out.push(Tok::Close);
            }
        }
    }
}

fn tokens(item: &impl ToTokens) -> Vec<Tok> {
    let mut out = Vec::new();
    flatten(item.to_token_stream(), &mut out);
    out
}

fn idents(item: &impl ToTokens) -> BTreeSet<String> {
    tokens(item)
        .into_iter()
        .filter_map(|tok| match tok {
            Tok::Ident(ident) => Some(ident),
            _ => None,
        })
        .collect()
}

/// How a `Debug` body can name a field.
#[derive(Clone, Debug, PartialEq, Eq)]
enum FieldName {
    /// `self.name` in a struct, or a `name` binding in an enum pattern.
    Named(String),
    /// `self.0` in a tuple struct.
    Index(usize),
    /// Position `index` of tuple variant `variant`.
    Variant(String, usize),
}

#[derive(Debug)]
struct Field {
    name: FieldName,
    /// Every identifier in its type.
    type_idents: BTreeSet<String>,
    shown: String,
}

#[derive(Debug)]
struct TypeDef {
    krate: String,
    name: String,
    path: String,
    line: usize,
    fields: Vec<Field>,
    derives: BTreeSet<String>,
}

#[derive(Debug)]
struct DebugImpl {
    krate: String,
    name: String,
    path: String,
    line: usize,
    body: Vec<Tok>,
}

#[derive(Default)]
struct Collector {
    krate: String,
    path: String,
    types: Vec<TypeDef>,
    aliases: Vec<(String, BTreeSet<String>)>,
    impls: Vec<DebugImpl>,
}

/// The names inside every `derive(...)` of `attrs`, including those under `cfg_attr`.
fn derives(attrs: &[syn::Attribute]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for attr in attrs {
        let toks = tokens(&attr.meta);
        let mut i = 0;
        while let Some(tok) = toks.get(i) {
            if *tok == Tok::Ident("derive".to_owned())
                && toks.get(i + 1) == Some(&Tok::Open(Delimiter::Parenthesis))
            {
                let mut depth = 0usize;
                for inner in toks.iter().skip(i + 1) {
                    match inner {
                        Tok::Open(_) => depth += 1,
                        Tok::Close => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        Tok::Ident(name) => {
                            out.insert(name.clone());
                        }
                        _ => {}
                    }
                }
            }
            i += 1;
        }
    }
    out
}

fn fields_of(fields: &syn::Fields, variant: Option<&str>) -> Vec<Field> {
    fields
        .iter()
        .enumerate()
        .map(|(index, field)| {
            let name = match (&field.ident, variant) {
                (Some(ident), _) => FieldName::Named(ident.to_string()),
                (None, Some(variant)) => FieldName::Variant(variant.to_owned(), index),
                (None, None) => FieldName::Index(index),
            };
            let shown = match &name {
                FieldName::Named(name) => name.clone(),
                FieldName::Index(index) => index.to_string(),
                FieldName::Variant(variant, index) => format!("{variant}.{index}"),
            };
            Field {
                name,
                type_idents: idents(&field.ty),
                shown: format!("{shown}: {}", field.ty.to_token_stream()),
            }
        })
        .collect()
}

impl Collector {
    fn define(&mut self, ident: &syn::Ident, attrs: &[syn::Attribute], fields: Vec<Field>) {
        self.types.push(TypeDef {
            krate: self.krate.clone(),
            name: ident.to_string(),
            path: self.path.clone(),
            line: ident.span().start().line,
            fields,
            derives: derives(attrs),
        });
    }
}

impl<'ast> Visit<'ast> for Collector {
    fn visit_item_struct(&mut self, item: &'ast syn::ItemStruct) {
        self.define(&item.ident, &item.attrs, fields_of(&item.fields, None));
        syn::visit::visit_item_struct(self, item);
    }

    fn visit_item_enum(&mut self, item: &'ast syn::ItemEnum) {
        let fields = item
            .variants
            .iter()
            .flat_map(|variant| fields_of(&variant.fields, Some(&variant.ident.to_string())))
            .collect();
        self.define(&item.ident, &item.attrs, fields);
        syn::visit::visit_item_enum(self, item);
    }

    fn visit_item_type(&mut self, item: &'ast syn::ItemType) {
        self.aliases
            .push((item.ident.to_string(), idents(&item.ty)));
        syn::visit::visit_item_type(self, item);
    }

    fn visit_item_impl(&mut self, item: &'ast syn::ItemImpl) {
        let is_debug = item
            .trait_
            .as_ref()
            .and_then(|(_, path, _)| path.segments.last())
            .is_some_and(|segment| segment.ident == "Debug");
        let self_name = match &*item.self_ty {
            syn::Type::Path(path) => path.path.segments.last().map(|s| s.ident.clone()),
            _ => None,
        };
        if let (true, Some(name)) = (is_debug, self_name) {
            let mut body = Vec::new();
            for impl_item in &item.items {
                if let syn::ImplItem::Fn(function) = impl_item {
                    flatten(function.block.to_token_stream(), &mut body);
                }
            }
            self.impls.push(DebugImpl {
                krate: self.krate.clone(),
                name: name.to_string(),
                path: self.path.clone(),
                line: name.span().start().line,
                body,
            });
        }
        syn::visit::visit_item_impl(self, item);
    }
}

/// Applies the rules to `sources`.
pub(crate) fn analyze(sources: &[Source]) -> Findings {
    let mut findings = Findings::default();
    let mut collector = Collector::default();
    for source in sources {
        match syn::parse_file(&source.text) {
            Ok(file) => {
                collector.krate.clone_from(&source.krate);
                collector.path.clone_from(&source.path);
                collector.visit_file(&file);
            }
            Err(err) => findings.violations.push(format!(
                "{}:{}: does not parse, so it cannot be checked: {err}",
                source.path,
                err.span().start().line
            )),
        }
    }
    let Collector {
        types,
        aliases,
        impls,
        ..
    } = collector;

    // Secret types: the lists, Zeroize derivers, then aliases of any of them until stable.
    let mut secret: BTreeSet<String> = EXTERNAL
        .iter()
        .chain(WORKSPACE)
        .map(|name| (*name).to_owned())
        .collect();
    for name in WORKSPACE {
        if !types.iter().any(|def| def.name == *name) {
            findings.violations.push(format!(
                "the secret type list names {name}, which is no longer defined in crates/*/src: \
                 update WORKSPACE in xtask/src/audit/secrets.rs"
            ));
        }
    }
    for def in &types {
        if def.derives.contains("Zeroize") || def.derives.contains("ZeroizeOnDrop") {
            secret.insert(def.name.clone());
        }
    }
    loop {
        let before = secret.len();
        for (alias, target) in &aliases {
            if !target.is_disjoint(&secret) {
                secret.insert(alias.clone());
            }
        }
        if secret.len() == before {
            break;
        }
    }
    let workspace_secret: BTreeSet<&str> = types
        .iter()
        .map(|def| def.name.as_str())
        .filter(|name| secret.contains(*name))
        .collect();
    findings.secret_types = workspace_secret.iter().map(|s| (*s).to_owned()).collect();

    // Which hand-written Debug impls pass depends on which others pass (a field may be
    // formatted whole when its types' own Debug redacts), and which types are key-holding
    // depends on that too: iterate until nothing changes.
    let mut verified: BTreeSet<String> = BTreeSet::new();
    for _ in 0..16 {
        let key_holding = key_holding_types(&types, &secret, &workspace_secret, &verified);
        let key_names: BTreeSet<String> = secret
            .iter()
            .cloned()
            .chain(key_holding.iter().map(|def| def.name.clone()))
            .collect();
        let mut violations = Vec::new();
        // Rule 1.
        for def in &key_holding {
            if def.derives.contains("Debug") {
                let field = def
                    .fields
                    .iter()
                    .find(|field| !field.type_idents.is_disjoint(&key_names))
                    .map_or_else(|| "it is a secret type".to_owned(), |f| f.shown.clone());
                violations.push(format!(
                    "{}:{}: {} derives Debug but holds key material ({field}); write Debug by \
                     hand and redact",
                    def.path, def.line, def.name
                ));
            }
        }
        // Rules 2 and 3.
        let mut passed = BTreeSet::new();
        let mut manual = 0;
        for imp in &impls {
            let defs: Vec<&&TypeDef> = key_holding
                .iter()
                .filter(|def| def.name == imp.name && def.krate == imp.krate)
                .collect();
            // The definition in the same file if there is one, else any in the same crate.
            let Some(def) = defs
                .iter()
                .find(|def| def.path == imp.path)
                .or_else(|| defs.first())
            else {
                continue;
            };
            manual += 1;
            let mut problems = manual_debug_problems(imp, def, &key_names, &verified);
            if workspace_secret.contains(imp.name.as_str()) && !redacts(imp) {
                problems.push(format!(
                    "{}:{}: Debug for secret type {} shows no redaction (a \"[REDACTED]\" \
                     string or finish_non_exhaustive())",
                    imp.path, imp.line, imp.name
                ));
            }
            if problems.is_empty() {
                passed.insert(imp.name.clone());
            }
            violations.extend(problems);
        }
        findings.key_holding = key_holding.len();
        findings.key_holding_names = key_holding
            .iter()
            .map(|def| format!("{}::{}", def.krate, def.name))
            .collect();
        findings.manual_debug = manual;
        findings.rule_violations = violations;
        if passed == verified {
            break;
        }
        verified = passed;
    }
    let rule_violations = std::mem::take(&mut findings.rule_violations);
    findings.violations.extend(rule_violations);
    findings
}

/// Key-holding types: the workspace secret types, types with a field of a secret type, and
/// types with a field of a key-holding type that is not a redaction boundary (`verified`: its
/// hand-written Debug passed).
fn key_holding_types<'a>(
    types: &'a [TypeDef],
    secret: &BTreeSet<String>,
    workspace_secret: &BTreeSet<&str>,
    verified: &BTreeSet<String>,
) -> Vec<&'a TypeDef> {
    let mut holding: Vec<bool> = types
        .iter()
        .map(|def| workspace_secret.contains(def.name.as_str()))
        .collect();
    loop {
        let makers: BTreeSet<String> = secret
            .iter()
            .cloned()
            .chain(
                types
                    .iter()
                    .zip(&holding)
                    .filter(|(def, holds)| **holds && !verified.contains(&def.name))
                    .map(|(def, _)| def.name.clone()),
            )
            .collect();
        let mut changed = false;
        for (def, holds) in types.iter().zip(holding.iter_mut()) {
            if !*holds
                && def
                    .fields
                    .iter()
                    .any(|field| !field.type_idents.is_disjoint(&makers))
            {
                *holds = true;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    types
        .iter()
        .zip(holding)
        .filter_map(|(def, holds)| holds.then_some(def))
        .collect()
}

/// A string containing `REDACTED`, or `finish_non_exhaustive`.
fn redacts(imp: &DebugImpl) -> bool {
    imp.body.iter().any(|tok| match tok {
        Tok::Literal(text) => text.contains("REDACTED"),
        Tok::Ident(name) => name == "finish_non_exhaustive",
        _ => false,
    })
}

/// Rule 2 for one hand-written `Debug` of `def`. `key_names` are the secret and key-holding
/// type names; `verified` those whose own Debug passed.
fn manual_debug_problems(
    imp: &DebugImpl,
    def: &TypeDef,
    key_names: &BTreeSet<String>,
    verified: &BTreeSet<String>,
) -> Vec<String> {
    let mut problems = Vec::new();
    let at = format!("{}:{}: Debug for {}", imp.path, imp.line, imp.name);
    if imp.body.contains(&Tok::Ident("expose_secret".to_owned())) {
        problems.push(format!("{at} calls expose_secret"));
    }
    for field in &def.fields {
        let keys: BTreeSet<&String> = field.type_idents.intersection(key_names).collect();
        if keys.is_empty() || keys.iter().all(|name| verified.contains(*name)) {
            continue;
        }
        let body = &imp.body;
        let shown = match &field.name {
            FieldName::Named(name) => (0..body.len()).any(|i| {
                let mention = body.get(i) == Some(&Tok::Ident(name.clone()))
                    && !(i >= 1
                        && body.get(i - 1) == Some(&Tok::Punct('.'))
                        && body.get(i.wrapping_sub(2)) != Some(&Tok::Ident("self".to_owned())));
                mention && !harmless(body, i + 1)
            }),
            FieldName::Index(index) => (0..body.len()).any(|i| {
                body.get(i) == Some(&Tok::Ident("self".to_owned()))
                    && body.get(i + 1) == Some(&Tok::Punct('.'))
                    && body.get(i + 2) == Some(&Tok::Literal(index.to_string()))
                    && !harmless(body, i + 3)
            }),
            FieldName::Variant(variant, index) => binds_position(body, variant, *index),
        };
        if shown {
            problems.push(format!(
                "{at} formats key-holding field `{}`; print a redaction or only its length",
                field.shown
            ));
        }
    }
    problems
}

/// `.len()`, `.is_empty()` or `.keys()` follows at `at`.
fn harmless(body: &[Tok], at: usize) -> bool {
    body.get(at) == Some(&Tok::Punct('.'))
        && matches!(body.get(at + 1), Some(Tok::Ident(method)) if HARMLESS.contains(&method.as_str()))
        && body.get(at + 2) == Some(&Tok::Open(Delimiter::Parenthesis))
}

/// A pattern `Variant(.., x, ..)` binds position `index` to a name (not `_` or `..`).
fn binds_position(body: &[Tok], variant: &str, index: usize) -> bool {
    let mut i = 0;
    while i + 1 < body.len() {
        if body.get(i) == Some(&Tok::Ident(variant.to_owned()))
            && body.get(i + 1) == Some(&Tok::Open(Delimiter::Parenthesis))
        {
            // Split the group's top level at commas.
            let mut depth = 0usize;
            let mut position = 0;
            let mut element: Vec<&Tok> = Vec::new();
            let mut elements: BTreeMap<usize, Vec<&Tok>> = BTreeMap::new();
            for tok in body.iter().skip(i + 2) {
                match tok {
                    Tok::Close if depth == 0 => break,
                    Tok::Punct(',') if depth == 0 => {
                        elements.insert(position, std::mem::take(&mut element));
                        position += 1;
                        continue;
                    }
                    Tok::Open(_) => depth += 1,
                    Tok::Close => depth -= 1,
                    _ => {}
                }
                element.push(tok);
            }
            elements.insert(position, element);
            if elements.values().any(|e| e.contains(&&Tok::Punct('.'))) {
                // `..` makes positions ambiguous: any named binding counts.
                if elements.values().any(|e| {
                    e.iter().any(
                        |tok| matches!(tok, Tok::Ident(n) if n != "_" && n != "ref" && n != "mut"),
                    )
                }) {
                    return true;
                }
            } else if elements.get(&index).is_some_and(|e| {
                e.iter()
                    .any(|tok| matches!(tok, Tok::Ident(n) if n != "_" && n != "ref" && n != "mut"))
            }) {
                return true;
            }
        }
        i += 1;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(code: &str) -> Findings {
        // Each workspace secret type must exist; give the sample the real ones' shapes.
        let base = "
            pub struct SecretKey(SecretBox<[u8; 32]>);
            impl fmt::Debug for SecretKey {
                fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str(\"SecretKey([REDACTED])\")
                }
            }
            pub struct AeadKey { algorithm: Algorithm, cipher: Cipher }
            enum Cipher { XChaCha(XChaCha20Poly1305), Aes(Box<Aes256Gcm>) }
            impl fmt::Debug for AeadKey {
                fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.debug_struct(\"AeadKey\").field(\"algorithm\", &self.algorithm).finish_non_exhaustive()
                }
            }
            pub struct HmacSha256(hmac::Hmac<Sha256>);
            #[derive(Clone, Zeroize, ZeroizeOnDrop)]
            struct Material([u8; 32]);
        ";
        analyze(&[
            Source {
                krate: "sample".to_owned(),
                path: "base.rs".to_owned(),
                text: base.to_owned(),
            },
            Source {
                krate: "sample".to_owned(),
                path: "sample.rs".to_owned(),
                text: code.to_owned(),
            },
        ])
    }

    #[test]
    fn the_sample_base_passes() {
        let findings = run("");
        assert!(findings.violations.is_empty(), "{:?}", findings.violations);
        // SecretKey, AeadKey, Cipher, HmacSha256 and Material.
        assert_eq!(findings.key_holding, 5);
        assert_eq!(findings.manual_debug, 2);
    }

    #[test]
    fn derived_debug_on_a_key_holding_struct_is_flagged() {
        let findings = run("
            /// Line 2 of sample.rs.
            #[derive(Clone, Debug)]
            pub struct Unlocked {
                name: String,
                master: SecretKey,
            }
        ");
        assert_eq!(findings.violations.len(), 1, "{:?}", findings.violations);
        let violation = &findings.violations[0];
        assert!(
            violation.starts_with("sample.rs:4: Unlocked derives Debug"),
            "{violation}"
        );
        assert!(violation.contains("master: SecretKey"), "{violation}");
    }

    #[test]
    fn every_spelling_of_a_derive_is_seen() {
        for attrs in [
            "#[derive(Debug)]",
            "#[derive(std::fmt::Debug, Clone)]",
            "#[cfg_attr(test, derive(Debug))]",
        ] {
            let code = format!("{attrs} struct Slot {{ key: Option<Box<AeadKey>> }}");
            assert_eq!(run(&code).violations.len(), 1, "{attrs}");
        }
        let aliased = "type Password = Zeroizing<Vec<u8>>;\n#[derive(Debug)] enum Ask { Given { password: Password }, Prompt }";
        assert_eq!(
            run(aliased).violations.len(),
            1,
            "an alias of a secret type is secret"
        );
        let zeroizing =
            "#[derive(Zeroize)] struct Raw([u8; 32]);\n#[derive(Debug)] struct Holder(Raw);";
        assert_eq!(
            run(zeroizing).violations.len(),
            1,
            "Zeroize derivers are secret"
        );
    }

    #[test]
    fn a_redacted_debug_is_accepted() {
        let findings = run("
            pub struct DataKey { plaintext: SecretKey, wrapped: Vec<u8>, version: u32 }
            impl fmt::Debug for DataKey {
                fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.debug_struct(\"DataKey\")
                        .field(\"plaintext\", &self.plaintext)
                        .field(\"version\", &self.version)
                        .finish_non_exhaustive()
                }
            }
            pub struct Config { password: Zeroizing<Vec<u8>>, level: i32 }
            impl fmt::Debug for Config {
                fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.debug_struct(\"Config\")
                        .field(\"password\", &\"[REDACTED]\")
                        .field(\"password_len\", &self.password.len())
                        .field(\"level\", &self.level)
                        .finish()
                }
            }
            pub struct Record { material: BTreeMap<u32, Material> }
            impl std::fmt::Debug for Record {
                fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.debug_list().entries(self.material.keys()).finish()
                }
            }
            pub struct Buffer(Zeroizing<Vec<u8>>);
            impl fmt::Debug for Buffer {
                fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    write!(f, \"Buffer({} bytes)\", self.0.len())
                }
            }
            /// Holds only a type with a checked Debug: may derive.
            #[derive(Debug)]
            pub struct Batch { keys: Vec<DataKey> }
        ");
        assert!(findings.violations.is_empty(), "{:?}", findings.violations);
        assert_eq!(findings.manual_debug, 6);
    }

    #[test]
    fn a_debug_that_prints_secrets_is_flagged() {
        let leaks = [
            // The password itself: Zeroizing's Debug prints the bytes.
            "pub struct Config { password: Zeroizing<Vec<u8>> }
             impl fmt::Debug for Config {
                 fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                     f.debug_struct(\"Config\").field(\"password\", &self.password).finish()
                 }
             }",
            // Raw bytes through expose_secret.
            "pub struct Wrapper { key: SecretKey }
             impl fmt::Debug for Wrapper {
                 fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                     write!(f, \"{:?}\", self.key.expose_secret())
                 }
             }",
            // A tuple struct formatting its secret field.
            "pub struct Tagged(Zeroizing<[u8; 32]>);
             impl fmt::Debug for Tagged {
                 fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                     f.debug_tuple(\"Tagged\").field(&self.0).finish()
                 }
             }",
            // An enum binding its secret in a pattern.
            "pub enum Unlock { Key(Zeroizing<Vec<u8>>), None }
             impl fmt::Debug for Unlock {
                 fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                     match self {
                         Unlock::Key(bytes) => write!(f, \"Key({bytes:?})\"),
                         Unlock::None => f.write_str(\"None\"),
                     }
                 }
             }",
        ];
        for code in leaks {
            let findings = run(code);
            assert_eq!(
                findings.violations.len(),
                1,
                "{code}\n{:?}",
                findings.violations
            );
        }
    }

    #[test]
    fn holders_of_key_holding_types_are_key_holding_unless_behind_a_redacting_debug() {
        let inner = "struct FileKeys { encrypt: SecretKey, check: [u8; 8] }\n";
        let derived = format!("{inner}#[derive(Debug)] pub struct ExportKey {{ keys: FileKeys }}");
        assert_eq!(run(&derived).violations.len(), 1);
        let printed = format!(
            "{inner}pub struct ExportKey {{ keys: FileKeys }}
             impl fmt::Debug for ExportKey {{
                 fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {{
                     f.debug_struct(\"ExportKey\").field(\"keys\", &self.keys).finish()
                 }}
             }}"
        );
        assert_eq!(run(&printed).violations.len(), 1);
        let boundary = "
            pub struct LegacyKey { pub info: u32, material: SecretKey }
            impl fmt::Debug for LegacyKey {
                fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.debug_struct(\"LegacyKey\").field(\"info\", &self.info).finish_non_exhaustive()
                }
            }
            #[derive(Debug)]
            pub struct LegacyStore { keys: Vec<LegacyKey> }
        ";
        let findings = run(boundary);
        assert!(findings.violations.is_empty(), "{:?}", findings.violations);
        assert!(
            !findings
                .key_holding_names
                .iter()
                .any(|name| name.ends_with("::LegacyStore"))
        );
    }

    #[test]
    fn a_secret_type_must_show_a_redaction() {
        let findings = run("
            pub struct SecretKey(SecretBox<[u8; 32]>);
            impl fmt::Debug for SecretKey {
                fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str(\"SecretKey\")
                }
            }
        ");
        assert!(
            findings
                .violations
                .iter()
                .any(|v| v.contains("shows no redaction")),
            "{:?}",
            findings.violations
        );
    }

    #[test]
    fn a_vanished_secret_type_is_reported() {
        let findings = analyze(&[Source {
            krate: "sample".to_owned(),
            path: "sample.rs".to_owned(),
            text: "struct Nothing;".to_owned(),
        }]);
        assert_eq!(findings.violations.len(), WORKSPACE.len());
    }
}
