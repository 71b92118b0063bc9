//! [`error_frame`]: the `ERROR` frame every refusal is answered with.

use stomp_core::{names, Command, Frame};

/// An `ERROR` frame with `message` (and `receipt-id` when the failed frame asked for a
/// receipt). The body repeats the message for clients that only show bodies.
pub(crate) fn error_frame(message: &str, receipt: Option<&str>) -> Frame {
    // Header values cannot hold a line break in 1.0; keep the header on one line.
    let header: String = message
        .chars()
        .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
        .collect();
    let mut frame = Frame::new(Command::Error)
        .header(names::MESSAGE, &header)
        .header(names::CONTENT_TYPE, "text/plain;charset=UTF-8");
    if let Some(receipt) = receipt {
        frame.headers.append(names::RECEIPT_ID, receipt);
    }
    frame.with_body(message.to_owned())
}
