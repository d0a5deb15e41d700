//! A tiny marked YAML tree built from yaml-rust2's event parser.
//!
//! Every node keeps its line and column, scalars keep their text and
//! whether they were plain (only plain scalars are typed later, see
//! [`super::scalar`]). Aliases are resolved here (with a budget against
//! alias bombs), duplicate keys, non-scalar keys, unknown tags and extra
//! documents are reported. This module does not know what a service is.
//!
//! Events are pulled one at a time from `Parser::next_token` instead of
//! `Parser::load`: `load` recurses once per nesting level, and a hostile
//! file of a million nested `- ` must not overflow PID 1's stack. The
//! builder itself keeps an explicit stack with a depth limit, which also
//! bounds the recursion of whoever walks (or drops) the tree.

use super::diagnostic::{Diags, Pos};
use std::collections::{HashMap, HashSet};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Deepest accepted nesting of lists and mappings.
pub(crate) const MAX_DEPTH: usize = 64;
/// Most nodes a document may have once aliases are expanded.
pub(crate) const MAX_NODES: usize = 100_000;

/// One YAML node with its position.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Node {
    pub pos: Pos,
    pub kind: NodeKind,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum NodeKind {
    /// `plain` is false for quoted, block (`|`, `>`) and `!!str` scalars.
    Scalar {
        text: String,
        plain: bool,
    },
    Seq(Vec<Node>),
    /// Entries in file order. Keys are scalars unless an error was reported.
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// The text of a scalar key or value.
    pub fn scalar_text(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }
}

/// Parse `text` into a tree. `None` when the file has no usable document;
/// then an error has been recorded. Non-fatal problems (duplicate keys,
/// ...) are recorded and the tree is still returned so that lowering can
/// report its own problems too.
pub(crate) fn parse(text: &str, diags: &mut Diags) -> Option<Node> {
    let mut parser = Parser::new_from_str(text);
    let mut builder = Builder::new(diags);
    while !builder.done {
        match parser.next_token() {
            Ok((event, mark)) => builder.on_event(event, mark),
            Err(e) => {
                let at = pos(*e.marker());
                builder.fatal(at, format!("yaml syntax error: {}", e.info()));
            }
        }
    }
    if builder.failed {
        return None;
    }
    if builder.root.is_none() {
        let message = "the file is empty: expected a mapping with at least `exec`";
        builder.diags.error(Pos { line: 1, col: 1 }, None, message);
    }
    builder.root
}

fn pos(mark: Marker) -> Pos {
    // yaml-rust2 lines are 1-based, columns 0-based.
    Pos {
        line: mark.line(),
        col: mark.col() + 1,
    }
}

/// A list or mapping whose end event has not arrived yet.
struct Frame {
    pos: Pos,
    anchor: usize,
    /// Nodes below this one, for the alias budget.
    size: usize,
    kind: FrameKind,
}

enum FrameKind {
    Seq(Vec<Node>),
    Map {
        entries: Vec<(Node, Node)>,
        key: Option<Node>,
        seen: HashSet<String>,
    },
}

struct Builder<'d> {
    diags: &'d mut Diags,
    stack: Vec<Frame>,
    anchors: HashMap<usize, (Node, usize)>,
    root: Option<Node>,
    nodes: usize,
    documents: usize,
    /// A fatal problem was recorded; the tree is unusable.
    failed: bool,
    /// Stop pulling events.
    done: bool,
}

impl<'d> Builder<'d> {
    fn new(diags: &'d mut Diags) -> Self {
        Builder {
            diags,
            stack: Vec::new(),
            anchors: HashMap::new(),
            root: None,
            nodes: 0,
            documents: 0,
            failed: false,
            done: false,
        }
    }

    fn fatal(&mut self, at: Pos, message: String) {
        self.diags.error(at, None, message);
        self.failed = true;
        self.done = true;
    }

    fn scalar(
        &mut self,
        text: String,
        style: TScalarStyle,
        anchor: usize,
        tag: Option<Tag>,
        at: Pos,
    ) {
        let mut plain = style == TScalarStyle::Plain;
        if let Some(tag) = tag {
            match core_tag(&tag) {
                Some("str") => plain = false,
                Some(_) => {}
                None => {
                    let message = format!("unsupported tag {}{}", tag.handle, tag.suffix);
                    self.diags.error(at, None, message);
                }
            }
        }
        if !self.count(1, at) {
            return;
        }
        let node = Node {
            pos: at,
            kind: NodeKind::Scalar { text, plain },
        };
        self.finish(node, anchor, 1);
    }

    fn open(&mut self, kind: FrameKind, anchor: usize, tag: Option<Tag>, at: Pos) {
        if let Some(tag) = tag.filter(|t| core_tag(t).is_none()) {
            let message = format!("unsupported tag {}{}", tag.handle, tag.suffix);
            self.diags.error(at, None, message);
        }
        if self.stack.len() >= MAX_DEPTH {
            self.fatal(at, format!("nesting deeper than {MAX_DEPTH} levels"));
            return;
        }
        if !self.count(1, at) {
            return;
        }
        self.stack.push(Frame {
            pos: at,
            anchor,
            size: 1,
            kind,
        });
    }

    fn close(&mut self) {
        let Some(frame) = self.stack.pop() else {
            return;
        };
        let kind = match frame.kind {
            FrameKind::Seq(items) => NodeKind::Seq(items),
            FrameKind::Map { entries, .. } => NodeKind::Map(entries),
        };
        let node = Node {
            pos: frame.pos,
            kind,
        };
        self.finish(node, frame.anchor, frame.size);
    }

    fn alias(&mut self, id: usize, at: Pos) {
        let Some(size) = self.anchors.get(&id).map(|(_, size)| *size) else {
            self.fatal(at, "alias refers to a node that contains it".to_owned());
            return;
        };
        // Check the budget before cloning anything.
        if !self.count(size, at) {
            return;
        }
        let Some(mut node) = self.anchors.get(&id).map(|(node, _)| node.clone()) else {
            return;
        };
        node.pos = at;
        self.finish(node, 0, size);
    }

    /// Count one more node; false (and a fatal error) past the budget.
    fn count(&mut self, nodes: usize, at: Pos) -> bool {
        self.nodes = self.nodes.saturating_add(nodes);
        if self.nodes > MAX_NODES {
            let message = format!("more than {MAX_NODES} nodes (counting expanded aliases)");
            self.fatal(at, message);
        }
        !self.failed
    }

    /// A node is complete: remember its anchor and attach it to its parent.
    fn finish(&mut self, node: Node, anchor: usize, size: usize) {
        if anchor != 0 {
            self.anchors.insert(anchor, (node.clone(), size));
        }
        let Some(parent) = self.stack.last_mut() else {
            self.root = Some(node);
            return;
        };
        parent.size = parent.size.saturating_add(size);
        match &mut parent.kind {
            FrameKind::Seq(items) => items.push(node),
            FrameKind::Map { entries, key, seen } => match key.take() {
                None => {
                    if entries.is_empty() && before(node.pos, parent.pos) {
                        // Block mappings are marked after their first key.
                        parent.pos = node.pos;
                    }
                    match node.scalar_text() {
                        Some(text) if !seen.insert(text.to_owned()) => {
                            let message = "duplicate key (each key may appear once)";
                            self.diags.error(node.pos, Some(text), message);
                        }
                        Some(_) => {}
                        None => self
                            .diags
                            .error(node.pos, None, "mapping keys must be scalars"),
                    }
                    *key = Some(node);
                }
                Some(k) => {
                    let mut value = node;
                    if is_empty_plain(&value) {
                        // The parser marks an empty value at the next token.
                        value.pos = k.pos;
                    }
                    entries.push((k, value));
                }
            },
        }
    }
}

fn before(a: Pos, b: Pos) -> bool {
    (a.line, a.col) < (b.line, b.col)
}

fn is_empty_plain(node: &Node) -> bool {
    matches!(&node.kind, NodeKind::Scalar { text, plain: true } if text.is_empty())
}

/// The suffix of a `tag:yaml.org,2002:` tag we accept (`!!str`, ...).
fn core_tag(tag: &Tag) -> Option<&str> {
    if tag.handle != "tag:yaml.org,2002:" {
        return None;
    }
    let known = ["str", "int", "bool", "null", "float", "map", "seq"];
    known
        .contains(&tag.suffix.as_str())
        .then_some(tag.suffix.as_str())
}

impl MarkedEventReceiver for Builder<'_> {
    fn on_event(&mut self, event: Event, mark: Marker) {
        let at = pos(mark);
        match event {
            Event::StreamEnd => self.done = true,
            Event::DocumentStart => {
                self.documents += 1;
                if self.documents > 1 {
                    let message = "more than one yaml document (one service per file)";
                    self.fatal(at, message.to_owned());
                }
            }
            Event::Scalar(text, style, anchor, tag) => self.scalar(text, style, anchor, tag, at),
            Event::SequenceStart(anchor, tag) => {
                self.open(FrameKind::Seq(Vec::new()), anchor, tag, at);
            }
            Event::MappingStart(anchor, tag) => {
                let kind = FrameKind::Map {
                    entries: Vec::new(),
                    key: None,
                    seen: HashSet::new(),
                };
                self.open(kind, anchor, tag, at);
            }
            Event::SequenceEnd | Event::MappingEnd => self.close(),
            Event::Alias(id) => self.alias(id, at),
            Event::Nothing | Event::StreamStart | Event::DocumentEnd => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(text: &str) -> (Option<Node>, Vec<String>) {
        let mut d = Diags::new("t.yaml");
        let node = parse(text, &mut d);
        (
            node,
            d.into_sorted().iter().map(ToString::to_string).collect(),
        )
    }

    fn scalar(node: &Node) -> (&str, bool) {
        match &node.kind {
            NodeKind::Scalar { text, plain } => (text, *plain),
            other => panic!("not a scalar: {other:?}"),
        }
    }

    fn entries(node: &Node) -> &[(Node, Node)] {
        match &node.kind {
            NodeKind::Map(entries) => entries,
            other => panic!("not a map: {other:?}"),
        }
    }

    #[test]
    fn keeps_positions_order_and_quoting() {
        let (root, diags) = tree("b: 1\na: 'x'\nc:\n  - y\n");
        assert!(diags.is_empty(), "{diags:?}");
        let root = root.unwrap();
        assert_eq!(root.pos, Pos { line: 1, col: 1 });
        let e = entries(&root);
        let keys: Vec<_> = e.iter().map(|(k, _)| scalar(k).0).collect();
        assert_eq!(keys, ["b", "a", "c"]);
        assert_eq!(scalar(&e[0].1), ("1", true));
        assert_eq!(scalar(&e[1].1), ("x", false));
        assert_eq!(e[1].1.pos, Pos { line: 2, col: 4 });
        let NodeKind::Seq(items) = &e[2].1.kind else {
            panic!()
        };
        assert_eq!(items[0].pos, Pos { line: 4, col: 5 });
    }

    #[test]
    fn empty_values_point_at_their_key() {
        let (root, _) = tree("a:\nb: 1\n");
        let root = root.unwrap();
        let (key, value) = &entries(&root)[0];
        assert_eq!(scalar(value), ("", true));
        assert_eq!(value.pos, key.pos);
    }

    #[test]
    fn resolves_aliases() {
        let (root, diags) = tree("a: &x {k: v}\nb: *x\n");
        assert!(diags.is_empty(), "{diags:?}");
        let root = root.unwrap();
        let e = entries(&root);
        assert_eq!(e[0].1.kind, e[1].1.kind);
        assert_eq!(e[1].1.pos.line, 2);
    }

    #[test]
    fn reports_every_duplicate_and_complex_key() {
        let (root, diags) = tree("a: 1\nb: 2\na: 3\n? [x]\n: y\nb: 4\n");
        assert!(root.is_some());
        assert_eq!(
            diags,
            [
                "t.yaml:3:1: a: duplicate key (each key may appear once)",
                "t.yaml:4:3: mapping keys must be scalars",
                "t.yaml:6:1: b: duplicate key (each key may appear once)",
            ]
        );
    }

    #[test]
    fn syntax_errors_have_a_position() {
        let (root, diags) = tree("a: 1\n b: [\n");
        assert!(root.is_none());
        assert_eq!(diags.len(), 1);
        assert!(
            diags[0].starts_with("t.yaml:2:3: yaml syntax error: "),
            "{diags:?}"
        );
    }

    #[test]
    fn refuses_empty_files_and_extra_documents() {
        for empty in ["", "# only a comment\n", "\n\n"] {
            let (root, diags) = tree(empty);
            assert!(root.is_none());
            assert_eq!(diags.len(), 1, "{diags:?}");
            assert!(diags[0].contains("the file is empty"), "{diags:?}");
        }
        let (root, diags) = tree("a: 1\n---\nb: 2\n");
        assert!(root.is_none());
        assert_eq!(
            diags,
            ["t.yaml:2:1: more than one yaml document (one service per file)"]
        );
    }

    #[test]
    fn tags() {
        let (root, diags) = tree("a: !!str 1\nb: !!int 2\nc: !custom x\n");
        let root = root.unwrap();
        let e = entries(&root);
        assert_eq!(scalar(&e[0].1), ("1", false));
        assert_eq!(scalar(&e[1].1), ("2", true));
        assert_eq!(diags, ["t.yaml:3:12: unsupported tag !custom"]);
    }

    #[test]
    fn deep_nesting_is_refused_without_overflowing_the_stack() {
        let text = "- ".repeat(200_000) + "x\n";
        let (root, diags) = tree(&text);
        assert!(root.is_none());
        assert!(
            diags[0].contains("nesting deeper than 64 levels"),
            "{diags:?}"
        );
        let text = "[".repeat(60) + &"]".repeat(60);
        assert!(tree(&text).0.is_some());
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let p = i - 1;
            text += &format!("a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n");
        }
        let (root, diags) = tree(&text);
        assert!(root.is_none());
        assert!(diags[0].contains("counting expanded aliases"), "{diags:?}");
    }

    #[test]
    fn self_referencing_alias_is_refused() {
        let (root, diags) = tree("a: &x [1, *x]\n");
        assert!(root.is_none());
        assert!(
            diags[0].contains("alias refers to a node that contains it"),
            "{diags:?}"
        );
    }
}
