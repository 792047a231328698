//! The store's search index (`STORE/search/`, a tantivy index): every message's normalised text as the tokens
//! keyness counts ([`echolens_text::tokens`]), with positions for phrases, and the fields selectors name
//! (platform, channel id and name, author id, time), so that a search and its selection are answered without
//! reading the messages. It holds no text: a page of results is read from the store by key.
//!
//! The index covers a set of the `messages` table's Parquet files, named in its last commit's payload.
//! [`update`] brings it to the table's current files: the documents of files no longer in the table are
//! deleted, the messages of new files added, and one commit records the new set — atomically, so an update
//! that is stopped leaves the index as it was, and running it again does the work again. It runs under the
//! store's write lock: by `ingest` after each import when an index exists, and by `serve` when it finds none
//! or finds it behind.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use arrow::array::{Array, AsArray};
use arrow::datatypes::DataType;
use echolens_analysis::Strs;
use echolens_analysis::select::{Selection, Selector};
use echolens_store::Store;
use tantivy::collector::sort_key::SortByStaticFastValue;
use tantivy::collector::{Count, TopDocs};
use tantivy::query::{AllQuery, BooleanQuery, Occur, PhrasePrefixQuery, PhraseQuery, Query, RangeQuery, TermQuery};
use tantivy::schema::{
    Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions, Value,
};
use tantivy::tokenizer::{Token, TokenStream, Tokenizer};
use tantivy::{DocAddress, Index, IndexReader, Order, TantivyDocument, Term};

/// The index's folder inside the store.
pub const DIR: &str = "search";
/// The tokenizer's name in the index.
const TOKENIZER: &str = "echolens";
/// Memory the writer buffers before it writes a segment (the tantivy writer's budget, spread over its threads).
const WRITER_MEMORY: usize = 256 << 20;

/// The layout of the index's documents: an index of another layout is made again.
const LAYOUT: u32 = 1;

/// What the index records in each commit.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct Covered {
    /// The layout of its documents ([`LAYOUT`]; 0 for an index made before layouts were numbered).
    #[serde(default)]
    layout: u32,
    /// File names of `messages` whose messages are in the index.
    files: BTreeSet<String>,
}

/// The fields of the index.
#[derive(Debug, Clone, Copy)]
struct Fields {
    key: Field,
    text: Field,
    platform: Field,
    channel_id: Field,
    channel_name: Field,
    author_id: Field,
    account: Field,
    ts: Field,
    key_hash: Field,
    file: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(TOKENIZER)
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    let fields = Fields {
        key: b.add_text_field("key", STRING | STORED),
        text: b.add_text_field("text", text),
        platform: b.add_text_field("platform", STRING),
        channel_id: b.add_text_field("channel_id", STRING),
        channel_name: b.add_text_field("channel_name", STRING),
        author_id: b.add_text_field("author_id", STRING),
        account: b.add_text_field("account", STRING),
        ts: b.add_i64_field("ts", INDEXED | tantivy::schema::FAST),
        // Ties of time are ordered by the key's hash, as the scan orders them.
        key_hash: b.add_i64_field("key_hash", tantivy::schema::FAST),
        file: b.add_text_field("file", STRING),
    };
    (b.build(), fields)
}

/// Splits normalised text into the tokens keyness counts.
#[derive(Debug, Clone, Default)]
struct EcholensTokenizer {
    token: Token,
}

/// The tokens of one text.
struct Tokens<'a> {
    text: &'a str,
    inner: echolens_text::Tokens<'a>,
    token: &'a mut Token,
}

impl Tokenizer for EcholensTokenizer {
    type TokenStream<'a> = Tokens<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Tokens<'a> {
        self.token.reset();
        self.token.position = usize::MAX;
        Tokens { text, inner: echolens_text::tokens(text), token: &mut self.token }
    }
}

impl TokenStream for Tokens<'_> {
    fn advance(&mut self) -> bool {
        let Some(word) = self.inner.next() else { return false };
        let from = word.as_ptr() as usize - self.text.as_ptr() as usize;
        self.token.offset_from = from;
        self.token.offset_to = from + word.len();
        self.token.position = self.token.position.wrapping_add(1);
        self.token.text.clear();
        self.token.text.push_str(word);
        true
    }

    fn token(&self) -> &Token {
        self.token
    }

    fn token_mut(&mut self) -> &mut Token {
        self.token
    }
}

/// The index of a store, open for searching.
pub struct SearchIndex {
    reader: IndexReader,
    fields: Fields,
}

/// What an update did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Updated {
    /// Files whose messages were added.
    pub files_added: usize,
    /// Files whose messages were removed.
    pub files_removed: usize,
    /// Messages added.
    pub messages_added: u64,
}

fn open_index(dir: &Path) -> Result<Index> {
    let index = Index::open_in_dir(dir).with_context(|| format!("opening the search index {}", dir.display()))?;
    index.tokenizers().register(TOKENIZER, EcholensTokenizer::default());
    Ok(index)
}

fn covered(index: &Index) -> Result<Covered> {
    let meta = index.load_metas()?;
    Ok(match meta.payload {
        Some(p) => serde_json::from_str(&p).context("reading the search index's commit payload")?,
        None => Covered::default(),
    })
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Whether the store has an index.
pub fn exists(store: &Store) -> bool {
    store.root().join(DIR).join("meta.json").exists()
}

/// Whether the store's index covers exactly its current messages.
pub fn is_current(store: &Store) -> Result<bool> {
    if !exists(store) {
        return Ok(false);
    }
    let index = open_index(&store.root().join(DIR))?;
    let files: BTreeSet<String> = store.message_files()?.iter().map(|p| file_name(p)).collect();
    let covered = covered(&index)?;
    Ok(covered.layout == LAYOUT && covered.files == files)
}

/// Bring the store's index to its current messages, creating it if there is none. The caller holds the
/// store's write lock. `progress` is told the messages added so far.
pub fn update(store: &Store, progress: &dyn Fn(u64)) -> Result<Updated> {
    if !store.is_locked() {
        bail!("the search index is updated under the store's write lock");
    }
    let dir = store.root().join(DIR);
    // An index of another layout is made again from nothing.
    if exists(store) && open_index(&dir).and_then(|i| covered(&i)).is_ok_and(|c| c.layout != LAYOUT) {
        std::fs::remove_dir_all(&dir).with_context(|| format!("removing the old search index {}", dir.display()))?;
    }
    let index = if exists(store) {
        open_index(&dir)?
    } else {
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let index = Index::create_in_dir(&dir, schema().0).with_context(|| format!("creating {}", dir.display()))?;
        index.tokenizers().register(TOKENIZER, EcholensTokenizer::default());
        index
    };
    let fields = fields_of(&index)?;
    let before = covered(&index)?;
    let files: Vec<PathBuf> = store.message_files()?;
    let now: BTreeSet<String> = files.iter().map(|p| file_name(p)).collect();
    let mut done = Updated::default();
    if before.files == now {
        return Ok(done);
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 4);
    let mut writer = index.writer_with_num_threads::<TantivyDocument>(threads, WRITER_MEMORY)?;
    for gone in before.files.difference(&now) {
        writer.delete_term(Term::from_field_text(fields.file, gone));
        done.files_removed += 1;
    }
    for path in files.iter().filter(|p| !before.files.contains(&file_name(p))) {
        done.messages_added += add_file(&writer, fields, path)?;
        done.files_added += 1;
        progress(done.messages_added);
    }
    let mut commit = writer.prepare_commit()?;
    commit.set_payload(&serde_json::to_string(&Covered { layout: LAYOUT, files: now })?);
    commit.commit()?;
    writer.wait_merging_threads()?;
    Ok(done)
}

/// The fields of an index of this layout (its schema is [`schema`]'s, field for field).
fn fields_of(index: &Index) -> Result<Fields> {
    let (schema, fields) = schema();
    if index.schema() != schema {
        bail!("the search index's fields are not this version's: it is made again by `echolens serve`");
    }
    Ok(fields)
}

/// Add the messages of one Parquet file of `messages`.
fn add_file(writer: &tantivy::IndexWriter<TantivyDocument>, fields: Fields, path: &Path) -> Result<u64> {
    use datafusion::parquet::arrow::ProjectionMask;
    use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(file).with_context(|| format!("reading {}", path.display()))?;
    let wanted = ["key", "platform", "channel_id", "channel_name", "author_id", "ts", "text_norm"];
    let arrow_schema = builder.schema().clone();
    let indices: Vec<usize> = wanted
        .iter()
        .map(|c| arrow_schema.index_of(c).with_context(|| format!("{}: no column {c}", path.display())))
        .collect::<Result<_>>()?;
    let mask = ProjectionMask::roots(builder.parquet_schema(), indices);
    let reader = builder.with_projection(mask).with_batch_size(8192).build()?;
    let file_name = file_name(path);
    let mut added = 0;
    for batch in reader {
        let batch = batch.with_context(|| format!("reading {}", path.display()))?;
        let column = |name: &str| -> Result<Strs> { Ok(echolens_analysis::strings(&batch, name)?) };
        let (key, platform, channel_id) = (column("key")?, column("platform")?, column("channel_id")?);
        let (channel_name, author_id, text) = (column("channel_name")?, column("author_id")?, column("text_norm")?);
        let ts = arrow::compute::cast(batch.column_by_name("ts").context("no ts")?, &DataType::Int64)?;
        let ts = ts.as_primitive::<arrow::datatypes::Int64Type>();
        for i in 0..batch.num_rows() {
            let mut doc = TantivyDocument::default();
            doc.add_text(fields.key, key.value(i));
            doc.add_i64(fields.key_hash, echolens_analysis::hash64(key.value(i)));
            doc.add_text(fields.text, text.value(i));
            doc.add_text(fields.platform, platform.value(i));
            doc.add_text(fields.channel_id, channel_id.value(i));
            if channel_name.is_valid(i) {
                doc.add_text(fields.channel_name, channel_name.value(i));
            }
            if author_id.is_valid(i) {
                doc.add_text(fields.author_id, author_id.value(i));
                doc.add_text(fields.account, format!("{}:{}", platform.value(i), author_id.value(i)));
            }
            if ts.is_valid(i) {
                doc.add_i64(fields.ts, ts.value(i));
            }
            doc.add_text(fields.file, &file_name);
            writer.add_document(doc)?;
            added += 1;
        }
    }
    Ok(added)
}

/// One term of a search: words, a phrase or a prefix (`serve`'s query language).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SearchTerm {
    /// Normalised words, space-separated.
    pub text: String,
    /// Whether its last word may go on (`vot*` finds "vote" and "voters").
    pub prefix: bool,
}

impl std::fmt::Display for SearchTerm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.text.contains(' '), self.prefix) {
            (true, false) => write!(f, "\"{}\"", self.text),
            (true, true) => write!(f, "\"{}\"*", self.text),
            (false, false) => write!(f, "{}", self.text),
            (false, true) => write!(f, "{}*", self.text),
        }
    }
}

/// The terms of a query, normalised as message text is; a `*` ending a word or a phrase makes it a prefix.
pub fn query_terms(q: &str) -> Vec<SearchTerm> {
    let mut out = Vec::new();
    let mut push = |raw: &str, prefix: bool| {
        let text = echolens_text::normalize(raw).split_whitespace().collect::<Vec<_>>().join(" ");
        if !text.is_empty() {
            out.push(SearchTerm { text, prefix });
        }
    };
    let parts: Vec<&str> = q.split('"').collect();
    for (i, part) in parts.iter().enumerate() {
        if i % 2 == 1 {
            // A phrase, a prefix when a `*` follows its closing quote.
            let prefix = parts.get(i + 1).is_some_and(|next| next.starts_with('*'));
            push(part, prefix);
        } else {
            for word in part.split_whitespace() {
                push(word.trim_end_matches('*'), word.ends_with('*'));
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

impl SearchIndex {
    /// Open the store's index, if it has one.
    pub fn open(store: &Store) -> Result<Option<SearchIndex>> {
        if !exists(store) {
            return Ok(None);
        }
        let index = open_index(&store.root().join(DIR))?;
        let fields = fields_of(&index)?;
        let reader = index.reader()?;
        Ok(Some(SearchIndex { reader, fields }))
    }

    /// The query for `terms` within `selection`, or `None` when the selection has a selector the index does
    /// not hold (`where=`).
    fn query(&self, terms: &[SearchTerm], selection: &Selection) -> Option<Box<dyn Query>> {
        let f = self.fields;
        let mut must: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for t in terms {
            let words: Vec<Term> = echolens_text::tokens(&t.text).map(|w| Term::from_field_text(f.text, w)).collect();
            let q: Box<dyn Query> = match (words.len(), t.prefix) {
                // A term with no word in it matches nothing.
                (0, _) => Box::new(BooleanQuery::new(vec![])),
                (1, false) => Box::new(TermQuery::new(words[0].clone(), IndexRecordOption::Basic)),
                (_, false) => Box::new(PhraseQuery::new(words)),
                (_, true) => {
                    let mut q = PhrasePrefixQuery::new(words);
                    q.set_max_expansions(u32::MAX);
                    Box::new(q)
                }
            };
            must.push((Occur::Must, q));
        }
        // Selectors of one kind combine with OR, kinds with AND (as `Selection::expr`).
        let mut by_kind: HashMap<usize, Vec<Box<dyn Query>>> = HashMap::new();
        for s in selection.selectors() {
            let exact = |field: Field, v: &str| -> Box<dyn Query> {
                Box::new(TermQuery::new(Term::from_field_text(field, v), IndexRecordOption::Basic))
            };
            let time = |t: &chrono::DateTime<chrono::Utc>| Term::from_field_i64(f.ts, t.timestamp_micros());
            let (kind, q): (usize, Box<dyn Query>) = match s {
                Selector::Channel(v) => {
                    (0, Box::new(BooleanQuery::union(vec![exact(f.channel_id, v), exact(f.channel_name, v)])))
                }
                Selector::Author(v) => {
                    (1, Box::new(BooleanQuery::union(vec![exact(f.author_id, v), exact(f.account, v)])))
                }
                Selector::Platform(v) => (2, exact(f.platform, &v.to_lowercase())),
                Selector::Since(t) => {
                    (3, Box::new(RangeQuery::new(std::ops::Bound::Included(time(t)), std::ops::Bound::Unbounded)))
                }
                Selector::Until(t) => {
                    (4, Box::new(RangeQuery::new(std::ops::Bound::Unbounded, std::ops::Bound::Excluded(time(t)))))
                }
                Selector::Where(_) | Selector::Expr { .. } => return None,
            };
            by_kind.entry(kind).or_default().push(q);
        }
        for (_, qs) in by_kind {
            must.push((Occur::Must, Box::new(BooleanQuery::union(qs))));
        }
        if must.is_empty() {
            return Some(Box::new(AllQuery));
        }
        Some(Box::new(BooleanQuery::new(must)))
    }

    /// The messages that hold every term within the selection: how many, and the keys of the page from
    /// `offset`, newest first. `None` when the selection has a selector the index does not hold.
    pub fn search(
        &self,
        terms: &[SearchTerm],
        selection: &Selection,
        offset: usize,
        limit: usize,
    ) -> Result<Option<(u64, Vec<String>)>> {
        let Some(query) = self.query(terms, selection) else { return Ok(None) };
        let searcher = self.reader.searcher();
        // Newest first, ties by the key's hash (as the scan orders them).
        let order = (
            (SortByStaticFastValue::<i64>::for_field("ts"), Order::Desc),
            (SortByStaticFastValue::<i64>::for_field("key_hash"), Order::Asc),
        );
        let top = TopDocs::with_limit(limit.max(1)).and_offset(offset).order_by(order);
        type Page = Vec<((Option<i64>, Option<i64>), DocAddress)>;
        let (count, page): (usize, Page) = searcher.search(&query, &(Count, top))?;
        let mut keys = Vec::with_capacity(page.len());
        for (_, address) in page.into_iter().take(limit) {
            let doc: TantivyDocument = searcher.doc(address)?;
            if let Some(k) = doc.get_first(self.fields.key).and_then(|v| v.as_str()) {
                keys.push(k.to_owned());
            }
        }
        Ok(Some((count as u64, keys)))
    }

    /// Messages in the index.
    pub fn messages(&self) -> u64 {
        self.reader.searcher().num_docs()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tokenizer_gives_keyness_tokens_with_positions_and_offsets() {
        let text = "می\u{200C}شود، #زن_زندگی see don't";
        let mut t = EcholensTokenizer::default();
        let mut stream = t.token_stream(text);
        let mut seen = Vec::new();
        while stream.advance() {
            let tok = stream.token();
            assert_eq!(&text[tok.offset_from..tok.offset_to], tok.text);
            seen.push((tok.position, tok.text.clone()));
        }
        let words: Vec<&str> = echolens_text::tokens(text).collect();
        assert_eq!(seen.iter().map(|s| s.1.as_str()).collect::<Vec<_>>(), words);
        assert_eq!(seen.iter().map(|s| s.0).collect::<Vec<_>>(), (0..words.len()).collect::<Vec<_>>());
    }
}
