//! The instructor's page (`/?instructor=TOKEN`) as a wasm of its own:
//! the student's page loads it only for that address (see
//! [`web::start`]), so students never download the instructor's views.

fn main() {
    web::start_instructor();
}
