//! Query results as they are printed (`echolens sql`) and served (`serve`'s SQL console).

use arrow::record_batch::RecordBatch;

/// A result batch as it is printed: times as RFC 3339 UTC text whatever their year (Arrow's own formatting fails
/// outside chrono's range), and with `lists_as_json` (for CSV, which has no lists), lists as JSON arrays.
pub fn printable(batch: &RecordBatch, lists_as_json: bool) -> Result<RecordBatch, arrow::error::ArrowError> {
    use arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
    use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    use std::sync::Arc;
    let mut fields = Vec::with_capacity(batch.num_columns());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        let text = match column.data_type() {
            DataType::Timestamp(unit, _) => {
                let raw = arrow::compute::cast(column, &DataType::Int64)?;
                let raw = raw.as_primitive::<arrow::datatypes::Int64Type>();
                let micros = |v: i64| match unit {
                    TimeUnit::Second => v.saturating_mul(1_000_000),
                    TimeUnit::Millisecond => v.saturating_mul(1_000),
                    TimeUnit::Microsecond => v,
                    TimeUnit::Nanosecond => v.div_euclid(1_000),
                };
                let mut b = StringBuilder::new();
                for i in 0..raw.len() {
                    if raw.is_null(i) {
                        b.append_null();
                    } else {
                        b.append_value(echolens_store::rfc3339(micros(raw.value(i))));
                    }
                }
                Some(Arc::new(b.finish()) as ArrayRef)
            }
            DataType::List(_) | DataType::LargeList(_) | DataType::Struct(_) | DataType::Map(_, _) if lists_as_json => {
                let one = RecordBatch::try_new(
                    Arc::new(Schema::new(vec![Field::new("v", column.data_type().clone(), true)])),
                    vec![column.clone()],
                )?;
                let mut buf = Vec::new();
                let mut w = arrow::json::LineDelimitedWriter::new(&mut buf);
                w.write(&one)?;
                w.finish()?;
                drop(w);
                let mut b = StringBuilder::new();
                for line in String::from_utf8_lossy(&buf).lines() {
                    let v: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
                    match v.get("v") {
                        Some(inner) => b.append_value(inner.to_string()),
                        None => b.append_null(),
                    }
                }
                Some(Arc::new(b.finish()) as ArrayRef)
            }
            _ => None,
        };
        match text {
            Some(array) => {
                fields.push(Field::new(field.name(), DataType::Utf8, true));
                columns.push(array);
            }
            None => {
                fields.push(field.as_ref().clone());
                columns.push(column.clone());
            }
        }
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
}
