//! Networks as files Gephi, Cytoscape, networkx and igraph open: GEXF 1.3 and GraphML.
//!
//! Node labels and attribute values come from the data (account ids, channel names) and are escaped; characters
//! XML 1.0 cannot hold at all (most C0 controls) are dropped.

use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;

use crate::{Error, Result};

/// The type of an attribute column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrType {
    /// Integer.
    Integer,
    /// Floating point.
    Double,
    /// Text.
    String,
}

/// An attribute value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Integer.
    Int(i64),
    /// Floating point.
    Float(f64),
    /// Text.
    Text(String),
}

/// An undirected weighted graph with attributes, ready to write.
#[derive(Debug, Default, Clone)]
pub struct Graph {
    /// Node attribute columns: name and type.
    pub node_attrs: Vec<(String, AttrType)>,
    /// Edge attribute columns: name and type.
    pub edge_attrs: Vec<(String, AttrType)>,
    /// Nodes: label and one value per node attribute.
    pub nodes: Vec<(String, Vec<Value>)>,
    /// Edges: source and target node index, weight, one value per edge attribute.
    pub edges: Vec<(usize, usize, f64, Vec<Value>)>,
    /// Directed edges (`source` → `target` means something) or not.
    pub directed: bool,
    /// When each edge was active: (start, end) in µs since the epoch, one list per edge (GEXF spells, so that
    /// Gephi's timeline plays the network); empty for a static graph.
    pub edge_spells: Vec<Vec<(i64, i64)>>,
}

/// A graph's edges as its writers read them, one at a time: the edges a [`Graph`] holds, or edges made from
/// an analysis's own result as they are written, so that a network of millions of edges is never held twice.
pub trait Edges: Sync {
    /// How many.
    fn count(&self) -> usize;
    /// Whether the edges have spells (the GEXF is then dynamic).
    fn dynamic(&self) -> bool;
    /// Edge `i`: its source and target node indices and its weight; its attribute values (one per edge
    /// attribute) are pushed into `values`, which comes empty.
    fn edge(&self, i: usize, values: &mut Vec<Value>) -> (usize, usize, f64);
    /// Edge `i`'s spells, pushed into `spells` (which comes empty): asked for by a dynamic graph's GEXF only,
    /// edge after edge in order.
    fn spells(&self, i: usize, spells: &mut Vec<(i64, i64)>) -> std::io::Result<()>;
}

/// The edges a [`Graph`] holds.
struct Held<'a>(&'a Graph);

impl Edges for Held<'_> {
    fn count(&self) -> usize {
        self.0.edges.len()
    }

    fn dynamic(&self) -> bool {
        !self.0.edge_spells.is_empty()
    }

    fn edge(&self, i: usize, values: &mut Vec<Value>) -> (usize, usize, f64) {
        let (a, b, w, held) = &self.0.edges[i];
        values.extend_from_slice(held);
        (*a, *b, *w)
    }

    fn spells(&self, i: usize, spells: &mut Vec<(i64, i64)>) -> std::io::Result<()> {
        spells.extend(self.0.edge_spells.get(i).into_iter().flatten());
        Ok(())
    }
}

/// Escape text for XML content and attribute values.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => {
                let _ = write!(out, "&#{};", c as u32);
            }
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

fn type_name(t: AttrType, graphml: bool) -> &'static str {
    match (t, graphml) {
        (AttrType::Integer, false) => "long",
        (AttrType::Integer, true) => "long",
        (AttrType::Double, _) => "double",
        (AttrType::String, _) => "string",
    }
}

fn value_text(v: &Value) -> String {
    match v {
        Value::Int(i) => i.to_string(),
        Value::Float(f) if f.is_finite() => format!("{f}"),
        Value::Float(_) => "0".to_owned(),
        Value::Text(s) => xml_escape(s),
    }
}

impl Graph {
    /// The graph as GEXF 1.3, in memory (a download of one cluster; the outputs are streamed by
    /// [`Graph::save_gexf`]).
    pub fn to_gexf(&self, description: &str) -> String {
        let mut out = Vec::new();
        self.write_gexf(&Held(self), &mut out, description).expect("writing to memory");
        String::from_utf8(out).expect("the XML is UTF-8")
    }

    /// The graph as GraphML (the node label and edge weight are attributes `label` and `weight`), in memory
    /// (tests; the outputs are streamed by [`Graph::save_graphml`]).
    #[cfg(test)]
    fn to_graphml(&self) -> String {
        let mut out = Vec::new();
        self.write_graphml(&Held(self), &mut out).expect("writing to memory");
        String::from_utf8(out).expect("the XML is UTF-8")
    }

    /// Writes the graph as GEXF 1.3 to `path`, streamed: a network of a million edges is never held as text.
    pub fn save_gexf(&self, path: &Path, description: &str) -> Result<()> {
        save(path, |w| self.write_gexf(&Held(self), w, description))
    }

    /// Writes the graph as GraphML to `path`, streamed.
    pub fn save_graphml(&self, path: &Path) -> Result<()> {
        save(path, |w| self.write_graphml(&Held(self), w))
    }

    /// [`Graph::save_gexf`] with the graph's nodes and attributes and the edges of `edges` (not its own).
    pub fn save_gexf_with(&self, edges: &dyn Edges, path: &Path, description: &str) -> Result<()> {
        save(path, |w| self.write_gexf(edges, w, description))
    }

    /// [`Graph::save_graphml`] with the graph's nodes and attributes and the edges of `edges` (not its own).
    pub fn save_graphml_with(&self, edges: &dyn Edges, path: &Path) -> Result<()> {
        save(path, |w| self.write_graphml(edges, w))
    }

    /// The graph as GEXF 1.3, written to `s`.
    fn write_gexf(&self, edges: &dyn Edges, s: &mut impl Write, description: &str) -> std::io::Result<()> {
        s.write_all("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n".as_bytes())?;
        s.write_all("<gexf xmlns=\"http://gexf.net/1.3\" version=\"1.3\">\n".as_bytes())?;
        writeln!(
            s,
            "  <meta><creator>echolens {}</creator><description>{}</description></meta>",
            env!("CARGO_PKG_VERSION"),
            xml_escape(description)
        )?;
        let kind = if self.directed { "directed" } else { "undirected" };
        if !edges.dynamic() {
            writeln!(s, "  <graph defaultedgetype=\"{kind}\" mode=\"static\">")?;
        } else {
            writeln!(s, "  <graph defaultedgetype=\"{kind}\" mode=\"dynamic\" timeformat=\"dateTime\">")?;
        }
        for (class, attrs) in [("node", &self.node_attrs), ("edge", &self.edge_attrs)] {
            writeln!(s, "    <attributes class=\"{class}\">")?;
            for (i, (name, t)) in attrs.iter().enumerate() {
                writeln!(
                    s,
                    "      <attribute id=\"{i}\" title=\"{}\" type=\"{}\"/>",
                    xml_escape(name),
                    type_name(*t, false)
                )?;
            }
            s.write_all("    </attributes>\n".as_bytes())?;
        }
        s.write_all("    <nodes>\n".as_bytes())?;
        for (i, (label, values)) in self.nodes.iter().enumerate() {
            write!(s, "      <node id=\"n{i}\" label=\"{}\"><attvalues>", xml_escape(label))?;
            for (j, v) in values.iter().enumerate() {
                write!(s, "<attvalue for=\"{j}\" value=\"{}\"/>", value_text(v))?;
            }
            s.write_all("</attvalues></node>\n".as_bytes())?;
        }
        s.write_all("    </nodes>\n    <edges>\n".as_bytes())?;
        let (mut values, mut spells) = (Vec::new(), Vec::new());
        let dynamic = edges.dynamic();
        for i in 0..edges.count() {
            values.clear();
            spells.clear();
            let (a, b, w) = edges.edge(i, &mut values);
            if dynamic {
                edges.spells(i, &mut spells)?;
            }
            write!(s, "      <edge id=\"e{i}\" source=\"n{a}\" target=\"n{b}\" weight=\"{w}\"><attvalues>")?;
            for (j, v) in values.iter().enumerate() {
                write!(s, "<attvalue for=\"{j}\" value=\"{}\"/>", value_text(v))?;
            }
            s.write_all("</attvalues>".as_bytes())?;
            if !spells.is_empty() {
                s.write_all("<spells>".as_bytes())?;
                for (start, end) in &spells {
                    write!(
                        s,
                        "<spell start=\"{}\" end=\"{}\"/>",
                        echolens_store::rfc3339(*start),
                        echolens_store::rfc3339(*end)
                    )?;
                }
                s.write_all("</spells>".as_bytes())?;
            }
            s.write_all("</edge>\n".as_bytes())?;
        }
        s.write_all("    </edges>\n  </graph>\n</gexf>\n".as_bytes())
    }

    /// The graph as GraphML, written to `s`.
    fn write_graphml(&self, edges: &dyn Edges, s: &mut impl Write) -> std::io::Result<()> {
        s.write_all("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n".as_bytes())?;
        s.write_all("<graphml xmlns=\"http://graphml.graphdrawing.org/xmlns\">\n".as_bytes())?;
        s.write_all("  <key id=\"label\" for=\"node\" attr.name=\"label\" attr.type=\"string\"/>\n".as_bytes())?;
        s.write_all("  <key id=\"weight\" for=\"edge\" attr.name=\"weight\" attr.type=\"double\"/>\n".as_bytes())?;
        for (prefix, class, attrs) in [("n", "node", &self.node_attrs), ("e", "edge", &self.edge_attrs)] {
            for (i, (name, t)) in attrs.iter().enumerate() {
                writeln!(
                    s,
                    "  <key id=\"{prefix}{i}\" for=\"{class}\" attr.name=\"{}\" attr.type=\"{}\"/>",
                    xml_escape(name),
                    type_name(*t, true)
                )?;
            }
        }
        let kind = if self.directed { "directed" } else { "undirected" };
        writeln!(s, "  <graph id=\"G\" edgedefault=\"{kind}\">")?;
        for (i, (label, values)) in self.nodes.iter().enumerate() {
            write!(s, "    <node id=\"n{i}\"><data key=\"label\">{}</data>", xml_escape(label))?;
            for (j, v) in values.iter().enumerate() {
                write!(s, "<data key=\"n{j}\">{}</data>", value_text(v))?;
            }
            s.write_all("</node>\n".as_bytes())?;
        }
        let mut values = Vec::new();
        for i in 0..edges.count() {
            values.clear();
            let (a, b, w) = edges.edge(i, &mut values);
            write!(s, "    <edge id=\"e{i}\" source=\"n{a}\" target=\"n{b}\"><data key=\"weight\">{w}</data>")?;
            for (j, v) in values.iter().enumerate() {
                write!(s, "<data key=\"e{j}\">{}</data>", value_text(v))?;
            }
            s.write_all("</edge>\n".as_bytes())?;
        }
        s.write_all("  </graph>\n</graphml>\n".as_bytes())
    }
}

/// Creates `path` and streams what `fill` writes into it through a buffer.
fn save(path: &Path, fill: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> std::io::Result<()>) -> Result<()> {
    let io = |source| Error::Io { path: path.to_owned(), source };
    let mut w = std::io::BufWriter::with_capacity(1 << 20, crate::table::create_output(path)?);
    fill(&mut w).map_err(io)?;
    w.flush().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Graph {
        Graph {
            node_attrs: vec![("cluster".into(), AttrType::Integer)],
            edge_attrs: vec![("kinds".into(), AttrType::String)],
            nodes: vec![
                ("x:<script>alert(1)</script>".into(), vec![Value::Int(0)]),
                ("telegram:\"a\" & 'b'\u{1}".into(), vec![Value::Int(0)]),
            ],
            edges: vec![(0, 1, 3.0, vec![Value::Text("text,link".into())])],
            directed: false,
            edge_spells: Vec::new(),
        }
    }

    #[test]
    fn hostile_labels_are_escaped() {
        for xml in [sample().to_gexf("t"), sample().to_graphml()] {
            assert!(!xml.contains("<script>"), "{xml}");
            assert!(xml.contains("&lt;script&gt;"));
            assert!(xml.contains("&quot;a&quot; &amp; &apos;b&apos;"));
            assert!(!xml.contains('\u{1}'));
        }
    }

    #[test]
    fn gexf_has_weights_and_attributes() {
        let xml = sample().to_gexf("t");
        assert!(xml.contains("<edge id=\"e0\" source=\"n0\" target=\"n1\" weight=\"3\">"));
        assert!(xml.contains("<attribute id=\"0\" title=\"cluster\" type=\"long\"/>"));
        assert!(xml.contains("<attvalue for=\"0\" value=\"text,link\"/>"));
    }

    #[test]
    fn graphml_declares_keys_before_use() {
        let xml = sample().to_graphml();
        let key = xml.find("<key id=\"n0\"").unwrap();
        let use_ = xml.find("<data key=\"n0\"").unwrap();
        assert!(key < use_);
        assert!(xml.contains("<data key=\"weight\">3</data>"));
    }
}

#[cfg(test)]
mod dynamic {
    use super::*;

    /// With spells, the GEXF is dynamic: each edge lists when it was active, as RFC 3339 times.
    #[test]
    fn edges_with_spells_make_a_dynamic_gexf() {
        let g = Graph {
            nodes: vec![("a".into(), vec![]), ("b".into(), vec![])],
            edges: vec![(0, 1, 2.0, vec![])],
            edge_spells: vec![vec![(1_709_251_200_000_000, 1_709_251_260_000_000)]],
            ..Graph::default()
        };
        let xml = g.to_gexf("test");
        assert!(xml.contains("mode=\"dynamic\" timeformat=\"dateTime\""), "{xml}");
        assert!(
            xml.contains(
                "<spells><spell start=\"2024-03-01T00:00:00Z\" end=\"2024-03-01T00:01:00Z\"/></spells></edge>"
            ),
            "{xml}"
        );
        let static_graph = Graph { edge_spells: Vec::new(), ..g };
        assert!(static_graph.to_gexf("test").contains("mode=\"static\""));
    }
}
