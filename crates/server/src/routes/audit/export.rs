//! Paged JSON answers and streamed exports (CSV, NDJSON) of any keyset-paged listing.
//!
//! An export never holds the whole result: a blocking task walks the listing page by page
//! through its cursor (one pooled connection per page, released in between) and hands each
//! encoded page to the response through a bounded channel, so a slow client slows the walk
//! instead of filling memory. If the client goes away the walk stops. A database failure after
//! the first page can no longer change the status: the response is cut short (the client sees
//! an incomplete chunked body) and the error is logged.

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};
use serde::Serialize;
use serde_json::Value;

use crate::db;
use crate::error::ApiError;

/// Items per page while exporting.
pub const EXPORT_PAGE: i64 = 1000;
/// Encoded pages buffered between the database walk and the socket.
const CHANNEL_PAGES: usize = 4;

/// One page of a listing and the cursor of the next one.
pub struct Page<T = Value> {
    /// The items: JSON objects, or anything that serialises as one (a typed item is written
    /// straight to the response, without building a `Value` first).
    pub items: Vec<T>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<String>,
}

type Fetch<T> = dyn FnMut(&mut store::DbConn, Option<&str>, i64) -> store::Result<Page<T>> + Send;

/// A keyset-paged result: how to fetch a page, and how to flatten an item into CSV rows.
pub struct Listing<T = Value> {
    fetch: Box<Fetch<T>>,
    columns: &'static [&'static str],
    rows: fn(&T) -> Vec<Vec<String>>,
}

impl<T: Serialize + Send + 'static> Listing<T> {
    /// A listing: `fetch(conn, cursor, limit)` returns one page; `rows` flattens one item into
    /// CSV rows matching `columns`.
    pub fn new(
        fetch: impl FnMut(&mut store::DbConn, Option<&str>, i64) -> store::Result<Page<T>>
            + Send
            + 'static,
        columns: &'static [&'static str],
        rows: fn(&T) -> Vec<Vec<String>>,
    ) -> Listing<T> {
        Listing {
            fetch: Box::new(fetch),
            columns,
            rows,
        }
    }
}

/// What the client asked for in `Accept`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One page as `{"items": [...], "nextCursor": "..."}`.
    Json,
    /// The whole result as CSV with a header row.
    Csv,
    /// The whole result as one JSON object per line.
    Ndjson,
}

impl Format {
    /// The first of `text/csv` or `application/x-ndjson` in `Accept`, else JSON.
    pub fn negotiate(req: &HttpRequest) -> Format {
        let accept = req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        for range in accept.split(',') {
            let essence = range.split(';').next().unwrap_or_default().trim();
            if essence.eq_ignore_ascii_case("text/csv") {
                return Format::Csv;
            }
            if essence.eq_ignore_ascii_case("application/x-ndjson") {
                return Format::Ndjson;
            }
        }
        Format::Json
    }
}

/// The body of a JSON page.
#[derive(Serialize)]
struct JsonPage<'a, T> {
    items: &'a [T],
    #[serde(rename = "nextCursor", skip_serializing_if = "Option::is_none")]
    next_cursor: Option<&'a str>,
}

/// Answers a listing: one JSON page, or the whole result streamed as CSV/NDJSON from `cursor`.
pub async fn respond<T: Serialize + Send + 'static>(
    req: &HttpRequest,
    store: &store::Store,
    mut listing: Listing<T>,
    cursor: Option<String>,
    limit: i64,
) -> Result<HttpResponse, ApiError> {
    let format = Format::negotiate(req);
    let page_size = if format == Format::Json {
        limit
    } else {
        EXPORT_PAGE
    };
    // The first page is read before answering, so its errors still get a proper status.
    let start = cursor.clone();
    let (listing, first) = db::run(store, move |s| {
        let page = s.read(|c| (listing.fetch)(c, start.as_deref(), page_size))?;
        Ok((listing, page))
    })
    .await?;
    if format == Format::Json {
        let body = serde_json::to_vec(&JsonPage {
            items: &first.items,
            next_cursor: first.next.as_deref(),
        })
        .map_err(|e| ApiError::Internal(e.into()))?;
        return Ok(HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, "application/json"))
            .body(body));
    }
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(CHANNEL_PAGES);
    let store = store.clone();
    let span = tracing::Span::current();
    actix_web::rt::task::spawn_blocking(move || {
        span.in_scope(|| produce(&store, listing, format, first, &tx))
    });
    let body = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let content_type = match format {
        Format::Csv => "text/csv; charset=utf-8",
        _ => "application/x-ndjson",
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .streaming(body))
}

type Sender = tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>;

/// Encodes `first`, then fetches and encodes every following page, until the end or until
/// the client is gone.
fn produce<T: Serialize>(
    store: &store::Store,
    mut listing: Listing<T>,
    format: Format,
    first: Page<T>,
    tx: &Sender,
) {
    let mut page = first;
    let mut header = format == Format::Csv;
    loop {
        let chunk = match encode(&listing, format, &page.items, header) {
            Ok(bytes) => Ok(bytes),
            Err(e) => {
                tracing::error!(error = %e, "export encoding failed");
                Err(std::io::Error::other("export failed"))
            }
        };
        let failed = chunk.is_err();
        if tx.blocking_send(chunk).is_err() || failed {
            return; // client disconnected, or the stream is cut short
        }
        header = false;
        let Some(cursor) = page.next.take() else {
            return;
        };
        match store.read(|c| (listing.fetch)(c, Some(&cursor), EXPORT_PAGE)) {
            Ok(next) => page = next,
            Err(e) => {
                tracing::error!(error = %e, cursor, "export stopped by a database error");
                let _ = tx.blocking_send(Err(std::io::Error::other("export failed")));
                return;
            }
        }
    }
}

fn encode<T: Serialize>(
    listing: &Listing<T>,
    format: Format,
    items: &[T],
    header: bool,
) -> anyhow::Result<Bytes> {
    let mut buf = Vec::with_capacity(items.len() * 256);
    match format {
        Format::Csv => {
            let mut w = csv::WriterBuilder::new()
                .has_headers(false)
                .from_writer(&mut buf);
            if header {
                w.write_record(listing.columns)?;
            }
            for item in items {
                for row in (listing.rows)(item) {
                    w.write_record(&row)?;
                }
            }
            w.flush()?;
        }
        Format::Ndjson | Format::Json => {
            for item in items {
                serde_json::to_writer(&mut buf, item)?;
                buf.push(b'\n');
            }
        }
    }
    Ok(Bytes::from(buf))
}

/// A CSV cell: strings as they are, `null` empty, anything else as JSON text.
pub fn cell(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// One CSV row per item: the item's top-level fields named by `columns`.
pub fn flat(item: &Value, columns: &[&str]) -> Vec<String> {
    columns.iter().map(|c| cell(item.get(*c))).collect()
}
