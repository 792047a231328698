//! Reading columns out of collected batches, whatever string layout the engine chose.

use arrow::array::{Int64Array, StringArray};
use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;
use datafusion::prelude::SessionContext;

use crate::Result;

/// Run `sql` and collect its batches.
pub async fn collect(ctx: &SessionContext, sql: &str) -> Result<Vec<RecordBatch>> {
    Ok(ctx.sql(sql).await?.collect().await?)
}

/// Column `name` as UTF-8 strings.
pub fn strings(batch: &RecordBatch, name: &str) -> Result<StringArray> {
    let col = batch.column_by_name(name).unwrap_or_else(|| panic!("plan output has no column {name}"));
    let col = arrow::compute::cast(col, &DataType::Utf8)?;
    Ok(col.as_any().downcast_ref::<StringArray>().expect("Utf8 cast").clone())
}

/// Column `name` as 64-bit integers.
pub fn i64s(batch: &RecordBatch, name: &str) -> Result<Int64Array> {
    let col = batch.column_by_name(name).unwrap_or_else(|| panic!("plan output has no column {name}"));
    let col = arrow::compute::cast(col, &DataType::Int64)?;
    Ok(col.as_any().downcast_ref::<Int64Array>().expect("Int64 cast").clone())
}
