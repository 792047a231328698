//! Messages and quarantine records to Arrow record batches (the schema of DESIGN.md).

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Int64Builder, ListBuilder, RecordBatch, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use echolens_model::{Message, MessageView, Quarantined};
use xxhash_rust::xxh3::xxh3_128;

fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn list_item() -> Arc<Field> {
    // Delta Lake names a list's item field `element`.
    Arc::new(Field::new("element", DataType::Utf8, true))
}

/// The `messages` table schema.
pub fn message_schema() -> SchemaRef {
    let s = |name: &str, nullable: bool| Field::new(name, DataType::Utf8, nullable);
    let list = |name: &str| Field::new(name, DataType::List(list_item()), true);
    Arc::new(Schema::new(vec![
        s("key", false),
        s("platform", false),
        s("channel_id", false),
        s("channel_name", true),
        s("message_id", false),
        s("author_id", true),
        s("author_name", true),
        Field::new("ts", ts_type(), false),
        Field::new("ts_exact", DataType::Boolean, false),
        Field::new("edited", ts_type(), true),
        s("text", false),
        s("text_norm", false),
        list("urls"),
        list("hashtags"),
        list("mentions"),
        s("forwarded_from", true),
        s("reply_to", true),
        s("repost_of", true),
        s("source_file", false),
        Field::new("source_record", DataType::Int64, false),
        // Added after the first columns: a store made before has it added when next written to (see
        // `Store::lock_for_writing`), and reads it as empty until then.
        s("quote_of", true),
        Field::new("collected_at", ts_type(), true),
        s("signature", true),
        s("via_bot", true),
        // The audience figures the source states (`echolens_model::Engagement`), null where it states none.
        Field::new("views", DataType::Int64, true),
        Field::new("likes", DataType::Int64, true),
        Field::new("shares", DataType::Int64, true),
        Field::new("replies", DataType::Int64, true),
        Field::new("quotes", DataType::Int64, true),
        Field::new("reactions", DataType::Int64, true),
    ]))
}

/// The `quarantine` table schema.
pub fn quarantine_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("source_file", DataType::Utf8, false),
        Field::new("source_record", DataType::Int64, false),
        Field::new("format", DataType::Utf8, false),
        Field::new("reason", DataType::Utf8, false),
        Field::new("raw", DataType::Utf8, false),
    ]))
}

fn list_builder(capacity: usize) -> ListBuilder<StringBuilder> {
    ListBuilder::with_capacity(StringBuilder::new(), capacity).with_field(list_item())
}

/// Messages as one record batch of [`message_schema`].
pub fn messages_to_batch<'a>(
    messages: impl ExactSizeIterator<Item = &'a Message>,
) -> arrow::error::Result<RecordBatch> {
    Ok(MessageRows::new(messages)?.batch)
}

/// The 128-bit hash the writer knows a stored key by.
pub(crate) fn key_hash(key: &str) -> u128 {
    xxh3_128(key.as_bytes())
}

/// Where an edit time ranks a version: a later edit replaces an earlier one, and any edit an unedited version.
pub(crate) fn edit_rank(edited: Option<i64>) -> i64 {
    edited.unwrap_or(i64::MIN)
}

/// Messages as a record batch of [`message_schema`], with each row's key hash and edit rank: what a
/// [`Writer`](crate::Writer) takes. Readers build these on their worker threads ([`MessageRowsBuilder`]), so the
/// writer's own thread only looks keys up.
#[derive(Debug, Clone)]
pub struct MessageRows {
    pub(crate) batch: RecordBatch,
    pub(crate) hashes: Vec<u128>,
    pub(crate) ranks: Vec<i64>,
}

impl MessageRows {
    /// The messages as rows.
    pub fn new<'a>(messages: impl ExactSizeIterator<Item = &'a Message>) -> arrow::error::Result<MessageRows> {
        let n = messages.len();
        let mut rows = MessageRowsBuilder::with_capacity(n, n * 128);
        for m in messages {
            rows.push(m);
        }
        rows.finish()
    }

    /// How many messages.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }
}

/// Builds [`MessageRows`] one message at a time: each message goes straight into the columns, so a reader need
/// not hold its messages.
pub struct MessageRowsBuilder {
    key: StringBuilder,
    platform: StringBuilder,
    channel_id: StringBuilder,
    channel_name: StringBuilder,
    message_id: StringBuilder,
    author_id: StringBuilder,
    author_name: StringBuilder,
    ts: TimestampMicrosecondBuilder,
    ts_exact: BooleanBuilder,
    edited: TimestampMicrosecondBuilder,
    text: StringBuilder,
    text_norm: StringBuilder,
    urls: ListBuilder<StringBuilder>,
    hashtags: ListBuilder<StringBuilder>,
    mentions: ListBuilder<StringBuilder>,
    forwarded_from: StringBuilder,
    reply_to: StringBuilder,
    repost_of: StringBuilder,
    source_file: StringBuilder,
    source_record: Int64Builder,
    quote_of: StringBuilder,
    collected_at: TimestampMicrosecondBuilder,
    signature: StringBuilder,
    via_bot: StringBuilder,
    /// One per engagement column, in `ENGAGEMENT_COLUMNS` order.
    engagement: [Int64Builder; 6],
    hashes: Vec<u128>,
    ranks: Vec<i64>,
    /// Scratch for the key.
    key_buf: String,
}

impl MessageRowsBuilder {
    /// Room for about `rows` messages holding `text_bytes` of text in all (both grow as needed).
    pub fn with_capacity(rows: usize, text_bytes: usize) -> MessageRowsBuilder {
        let n = rows;
        MessageRowsBuilder {
            key: StringBuilder::with_capacity(n, n * 32),
            platform: StringBuilder::with_capacity(n, n * 8),
            channel_id: StringBuilder::with_capacity(n, n * 12),
            channel_name: StringBuilder::with_capacity(n, n * 12),
            message_id: StringBuilder::with_capacity(n, n * 10),
            author_id: StringBuilder::with_capacity(n, n * 12),
            author_name: StringBuilder::with_capacity(n, n * 12),
            ts: TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC"),
            ts_exact: BooleanBuilder::with_capacity(n),
            edited: TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC"),
            text: StringBuilder::with_capacity(n, text_bytes),
            text_norm: StringBuilder::with_capacity(n, text_bytes),
            urls: list_builder(n),
            hashtags: list_builder(n),
            mentions: list_builder(n),
            forwarded_from: StringBuilder::new(),
            reply_to: StringBuilder::new(),
            repost_of: StringBuilder::new(),
            source_file: StringBuilder::with_capacity(n, n * 16),
            source_record: Int64Builder::with_capacity(n),
            quote_of: StringBuilder::new(),
            collected_at: TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC"),
            signature: StringBuilder::new(),
            via_bot: StringBuilder::new(),
            engagement: std::array::from_fn(|_| Int64Builder::with_capacity(n)),
            hashes: Vec::with_capacity(n),
            ranks: Vec::with_capacity(n),
            key_buf: String::new(),
        }
    }

    /// Messages pushed so far.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    /// Whether none was pushed.
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// Add one message.
    pub fn push(&mut self, m: &Message) {
        self.push_view(&m.view());
    }

    /// Add one message from borrowed parts.
    pub fn push_view(&mut self, m: &MessageView<'_>) {
        self.key_buf.clear();
        echolens_model::push_message_key(&mut self.key_buf, m.platform, m.channel_id, m.message_id)
            .expect("writing to a String cannot fail");
        self.hashes.push(key_hash(&self.key_buf));
        self.ranks.push(edit_rank(m.edited));
        self.key.append_value(&self.key_buf);
        self.platform.append_value(m.platform);
        self.channel_id.append_value(m.channel_id);
        self.channel_name.append_option(m.channel_name);
        self.message_id.append_value(m.message_id);
        self.author_id.append_option(m.author_id);
        self.author_name.append_option(m.author_name);
        self.ts.append_value(m.ts);
        self.ts_exact.append_value(m.ts_exact);
        self.edited.append_option(m.edited);
        self.text.append_value(m.text);
        self.text_norm.append_value(m.text_norm);
        for (builder, values) in
            [(&mut self.urls, m.urls), (&mut self.hashtags, m.hashtags), (&mut self.mentions, m.mentions)]
        {
            for v in values {
                builder.values().append_value(v);
            }
            builder.append(true);
        }
        self.forwarded_from.append_option(m.forwarded_from);
        self.reply_to.append_option(m.reply_to);
        self.repost_of.append_option(m.repost_of);
        self.source_file.append_value(m.source_file);
        self.source_record.append_value(i64::try_from(m.source_record).unwrap_or(i64::MAX));
        self.quote_of.append_option(m.quote_of);
        self.collected_at.append_option(m.collected_at);
        self.signature.append_option(m.signature);
        self.via_bot.append_option(m.via_bot);
        for (builder, (_, value)) in self.engagement.iter_mut().zip(m.engagement.named()) {
            builder.append_option(value);
        }
    }

    /// The rows pushed.
    pub fn finish(mut self) -> arrow::error::Result<MessageRows> {
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(self.key.finish()),
            Arc::new(self.platform.finish()),
            Arc::new(self.channel_id.finish()),
            Arc::new(self.channel_name.finish()),
            Arc::new(self.message_id.finish()),
            Arc::new(self.author_id.finish()),
            Arc::new(self.author_name.finish()),
            Arc::new(self.ts.finish()),
            Arc::new(self.ts_exact.finish()),
            Arc::new(self.edited.finish()),
            Arc::new(self.text.finish()),
            Arc::new(self.text_norm.finish()),
            Arc::new(self.urls.finish()),
            Arc::new(self.hashtags.finish()),
            Arc::new(self.mentions.finish()),
            Arc::new(self.forwarded_from.finish()),
            Arc::new(self.reply_to.finish()),
            Arc::new(self.repost_of.finish()),
            Arc::new(self.source_file.finish()),
            Arc::new(self.source_record.finish()),
            Arc::new(self.quote_of.finish()),
            Arc::new(self.collected_at.finish()),
            Arc::new(self.signature.finish()),
            Arc::new(self.via_bot.finish()),
        ];
        columns.extend(self.engagement.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
        let batch = RecordBatch::try_new(message_schema(), columns)?;
        Ok(MessageRows { batch, hashes: self.hashes, ranks: self.ranks })
    }
}

/// Quarantine records as one record batch of [`quarantine_schema`].
pub fn quarantine_to_batch<'a>(records: impl Iterator<Item = &'a Quarantined>) -> arrow::error::Result<RecordBatch> {
    let mut file = StringBuilder::new();
    let mut record = Int64Builder::new();
    let mut format = StringBuilder::new();
    let mut reason = StringBuilder::new();
    let mut raw = StringBuilder::new();
    for q in records {
        file.append_value(&q.source_file);
        record.append_value(i64::try_from(q.source_record).unwrap_or(i64::MAX));
        format.append_value(&q.format);
        reason.append_value(&q.reason);
        raw.append_value(&q.raw);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(file.finish()),
        Arc::new(record.finish()),
        Arc::new(format.finish()),
        Arc::new(reason.finish()),
        Arc::new(raw.finish()),
    ];
    RecordBatch::try_new(quarantine_schema(), columns)
}
