//! Messages and quarantine records to Arrow record batches (the schema of DESIGN.md).

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Int64Builder, ListBuilder, RecordBatch, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use echolens_model::{Message, Quarantined};

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
    let n = messages.len();
    let mut key = StringBuilder::with_capacity(n, n * 32);
    let mut platform = StringBuilder::with_capacity(n, n * 8);
    let mut channel_id = StringBuilder::with_capacity(n, n * 12);
    let mut channel_name = StringBuilder::with_capacity(n, n * 12);
    let mut message_id = StringBuilder::with_capacity(n, n * 10);
    let mut author_id = StringBuilder::with_capacity(n, n * 12);
    let mut author_name = StringBuilder::with_capacity(n, n * 12);
    let mut ts = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
    let mut ts_exact = BooleanBuilder::with_capacity(n);
    let mut edited = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
    let mut text = StringBuilder::with_capacity(n, n * 128);
    let mut text_norm = StringBuilder::with_capacity(n, n * 128);
    let mut urls = list_builder(n);
    let mut hashtags = list_builder(n);
    let mut mentions = list_builder(n);
    let mut forwarded_from = StringBuilder::new();
    let mut reply_to = StringBuilder::new();
    let mut repost_of = StringBuilder::new();
    let mut source_file = StringBuilder::with_capacity(n, n * 16);
    let mut source_record = Int64Builder::with_capacity(n);
    for m in messages {
        // The key is written straight into the builder's buffer, then closed as one value.
        echolens_model::push_message_key(&mut key, &m.platform, &m.channel_id, &m.message_id)
            .expect("writing to a string builder cannot fail");
        key.append_value("");
        platform.append_value(&m.platform);
        channel_id.append_value(&m.channel_id);
        channel_name.append_option(m.channel_name.as_deref());
        message_id.append_value(&m.message_id);
        author_id.append_option(m.author_id.as_deref());
        author_name.append_option(m.author_name.as_deref());
        ts.append_value(m.ts);
        ts_exact.append_value(m.ts_exact);
        edited.append_option(m.edited);
        text.append_value(&m.text);
        text_norm.append_value(&m.text_norm);
        for (builder, values) in [(&mut urls, &m.urls), (&mut hashtags, &m.hashtags), (&mut mentions, &m.mentions)] {
            for v in values {
                builder.values().append_value(v);
            }
            builder.append(true);
        }
        forwarded_from.append_option(m.forwarded_from.as_deref());
        reply_to.append_option(m.reply_to.as_deref());
        repost_of.append_option(m.repost_of.as_deref());
        source_file.append_value(&m.source_file);
        source_record.append_value(i64::try_from(m.source_record).unwrap_or(i64::MAX));
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(key.finish()),
        Arc::new(platform.finish()),
        Arc::new(channel_id.finish()),
        Arc::new(channel_name.finish()),
        Arc::new(message_id.finish()),
        Arc::new(author_id.finish()),
        Arc::new(author_name.finish()),
        Arc::new(ts.finish()),
        Arc::new(ts_exact.finish()),
        Arc::new(edited.finish()),
        Arc::new(text.finish()),
        Arc::new(text_norm.finish()),
        Arc::new(urls.finish()),
        Arc::new(hashtags.finish()),
        Arc::new(mentions.finish()),
        Arc::new(forwarded_from.finish()),
        Arc::new(reply_to.finish()),
        Arc::new(repost_of.finish()),
        Arc::new(source_file.finish()),
        Arc::new(source_record.finish()),
    ];
    RecordBatch::try_new(message_schema(), columns)
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
