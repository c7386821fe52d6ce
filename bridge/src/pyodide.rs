//! `/pyodide/`: CPython for the page's code view (Pyodide's five files),
//! served from the folder `scripts/setup.sh build` fills (`--pyodide`).
//!
//! The files sit under their version (`pyodide/314.0.7/pyodide.asm.wasm`),
//! so a URL never changes its content and browsers may keep them for a
//! year without asking again: the 9.6 MB interpreter is downloaded and
//! compiled once, and later Runs start warm. They are sent gzipped when
//! set-up left a `.gz` beside them (3.5 MB instead of 9.6 MB for the wasm).
//!
//! Module workers insist on a JavaScript MIME type, and the browser
//! compiles WebAssembly while it streams in only when it is sent as
//! `application/wasm`: both are set here whatever the file-type table says.

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use std::path::PathBuf;
use tower_http::services::ServeDir;

/// The service to nest at `/pyodide`: the files of `dir`, or a note saying
/// how to install them.
pub fn service(dir: Option<PathBuf>) -> Router {
    let Some(dir) = dir.filter(|dir| dir.is_dir()) else {
        return Router::new().fallback(not_installed);
    };
    let files = ServeDir::new(dir)
        .precompressed_gzip()
        .fallback(axum::routing::any(not_installed));
    Router::new()
        .fallback_service(files)
        .layer(middleware::from_fn(cache_forever))
}

/// A year of caching for what was found (the URL names the version), the
/// right MIME types; nothing cached for what was not.
async fn cache_forever(request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    let mut response = next.run(request).await;
    let found = response.status().is_success() || response.status() == StatusCode::NOT_MODIFIED;
    let headers = response.headers_mut();
    if found {
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=31536000, immutable"),
        );
        let mime = if path.ends_with(".mjs") || path.ends_with(".js") {
            Some("text/javascript")
        } else if path.ends_with(".wasm") {
            Some("application/wasm")
        } else {
            None
        };
        if let Some(mime) = mime {
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
        }
    } else {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

async fn not_installed() -> Response {
    (
        StatusCode::NOT_FOUND,
        "Python for the code view is not installed on this bridge: run `scripts/setup.sh build` \
         (or `make run`) in the repository, which fetches Pyodide into pyodide/, or start the \
         bridge with --pyodide DIR\n",
    )
        .into_response()
}
