//! The SQL pieces every plan over `messages` shares, defined once: what an account is, how a channel is named,
//! what an original message is.

/// An account: `platform:author_id` (the form every table writes and every selector takes).
pub const ACCOUNT: &str = "concat(platform, ':', author_id)";

/// A channel as tables name it: `platform:name`, or `platform:id` without a name.
pub const CHANNEL: &str = "concat(platform, ':', coalesce(channel_name, channel_id))";

/// [`CHANNEL`] over the columns of the table aliased `alias`.
pub fn channel_of(alias: &str) -> String {
    format!("concat({alias}.platform, ':', coalesce({alias}.channel_name, {alias}.channel_id))")
}

/// An original message by a known author: not a repost, not a forward.
pub const ORIGINAL: &str = "author_id IS NOT NULL AND repost_of IS NULL AND forwarded_from IS NULL";

/// [`ACCOUNT`] as an expression, for plans built with the DataFrame API.
pub fn account() -> datafusion::prelude::Expr {
    use datafusion::prelude::{col, concat, lit};
    concat(vec![col("platform"), lit(":"), col("author_id")])
}

/// [`CHANNEL`] as an expression.
pub fn channel() -> datafusion::prelude::Expr {
    use datafusion::prelude::{coalesce, col, concat, lit};
    concat(vec![col("platform"), lit(":"), coalesce(vec![col("channel_name"), col("channel_id")])])
}
