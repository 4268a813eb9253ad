//! The admin page (`GET /admin` by default): a read-only view of this node
//! for operators, one HTML file (`assets/admin/index.html`) with no data in
//! it. The page asks for the server API's token, keeps it in the browser
//! tab's `sessionStorage`, and shows what the API answers to that token:
//! `{prefix}/stats`, a page of `{prefix}/sessions`, and headline totals
//! from `/metrics` when it is served on the same listener. So the page
//! itself needs no token, and is behind the token all the same.

use actix_web::http::header::{self, ContentType};
use actix_web::{web, HttpResponse};

/// The page, with `{{API_PREFIX}}` where the API's prefix goes.
const PAGE: &str = include_str!("../../../assets/admin/index.html");

/// The page for an API mounted at `prefix`.
pub(super) fn render(prefix: &str) -> String {
    let escaped = prefix
        .replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    PAGE.replace("{{API_PREFIX}}", &escaped)
}

/// Mounts `GET path` answering `page`.
pub(super) fn mount(cfg: &mut web::ServiceConfig, path: &str, page: String) {
    let page = web::Data::new(page);
    cfg.service(
        web::resource(path)
            .app_data(page)
            .route(web::get().to(serve)),
    );
}

/// The page, never cached or framed: it runs with an operator's token.
async fn serve(page: web::Data<String>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::html())
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; frame-ancestors 'none'",
        ))
        .body(page.get_ref().clone())
}

#[cfg(test)]
mod tests {
    use super::render;

    #[test]
    fn the_page_names_its_api_prefix_escaped() {
        let page = render("/ops\"<x>");
        assert!(page.contains(r#"content="/ops&quot;&lt;x&gt;""#), "{page}");
        assert!(!page.contains("{{API_PREFIX}}"));
    }
}
