use askama::Template;
use axum::response::Response;

use super::render;
use crate::builtin;
use crate::core::markdown::to_safe_html;

#[derive(Template)]
#[template(path = "lessons.html")]
struct LessonsView {
    title: &'static str,
    query: String,
    html: String,
}

pub async fn view_lessons_get() -> Response {
    render(&LessonsView {
        title: "Lessons across incidents",
        query: String::new(),
        html: to_safe_html(&builtin::lessons()),
    })
}
