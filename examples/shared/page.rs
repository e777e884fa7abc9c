//! The look of the example pages: a small stylesheet, a title and a notice area.
#![allow(dead_code)] // Each example uses what it needs.

use std::time::{Duration, SystemTime};

use axum::response::Html;

const STYLE: &str = "\
body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d2330}\
main{max-width:34rem;margin:3rem auto;padding:1.5rem 2rem;background:#fff;\
border-radius:10px;box-shadow:0 1px 4px #0002}\
h1{font-size:1.4rem;margin:0 0 1rem}\
.notice{background:#e8f4ea;border-left:4px solid #2f8f46;padding:.5rem .8rem;margin:0 0 1rem}\
.count{font-size:3rem;font-weight:700;margin:.2rem 0}\
table{border-collapse:collapse;width:100%;margin:.5rem 0 1rem}\
td,th{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #e3e6ea}\
label{display:block;margin:.4rem 0}input[type=text],input[type=password]{width:100%;\
padding:.4rem;box-sizing:border-box}\
button{padding:.45rem 1rem;margin:.3rem .3rem 0 0;border:0;border-radius:6px;\
background:#3657c9;color:#fff;cursor:pointer}\
form.inline{display:inline}.muted{color:#667}";

/// A whole page: `title`, the `notice` if any, then `body` (HTML, already escaped).
pub fn page(title: &str, notice: Option<&str>, body: &str) -> Html<String> {
    let notice = notice
        .map(|text| format!("<p class=notice role=status>{}</p>", escape(text)))
        .unwrap_or_default();
    Html(format!(
        "<!doctype html><html lang=en><head><meta charset=utf-8>\
         <meta name=viewport content='width=device-width,initial-scale=1'>\
         <title>{title}</title><style>{STYLE}</style></head>\
         <body><main><h1>{title}</h1>{notice}{body}</main></body></html>",
        title = escape(title)
    ))
}

/// `text` made safe inside HTML.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The time of day of `at`, in UTC: `14:05 UTC`.
pub fn time_of_day(at: SystemTime) -> String {
    let seconds = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    format!("{:02}:{:02} UTC", seconds / 3600 % 24, seconds / 60 % 60)
}

/// A rough length of time, to the nearest unit: `45 s`, `30 min`, `5 h`, `30 days`.
pub fn span(length: Duration) -> String {
    let nearest = |unit: u64| (length.as_secs() + unit / 2) / unit;
    match length.as_secs() {
        s if s < 60 => format!("{s} s"),
        s if s < 60 * 60 => format!("{} min", nearest(60)),
        s if s < 48 * 60 * 60 => format!("{} h", nearest(3600)),
        _ => format!("{} days", nearest(86_400)),
    }
}
