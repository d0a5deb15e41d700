//! Reading request lines with a hard size limit, so no client can make
//! zinit buffer without bound.

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// Why no line could be read.
#[derive(Debug)]
pub enum LineError {
    TooLong,
    Io(#[allow(dead_code)] std::io::Error),
}

/// Read one `\n`-terminated line into `buf` (without the newline).
/// Returns `Ok(false)` at end of stream with nothing read. A final line
/// without a newline still counts as a line.
pub async fn read_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    max: usize,
    buf: &mut Vec<u8>,
) -> Result<bool, LineError> {
    buf.clear();
    loop {
        let available = reader.fill_buf().await.map_err(LineError::Io)?;
        if available.is_empty() {
            return Ok(!buf.is_empty());
        }
        let (chunk, found) = match available.iter().position(|b| *b == b'\n') {
            Some(i) => (&available[..i], true),
            None => (available, false),
        };
        if buf.len() + chunk.len() > max {
            return Err(LineError::TooLong);
        }
        buf.extend_from_slice(chunk);
        let used = chunk.len() + usize::from(found);
        reader.consume(used);
        if found {
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
            return Ok(true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn splits_limits_and_tolerates_crlf() {
        let data: &[u8] = b"one\r\ntwo\nthree";
        let mut reader = tokio::io::BufReader::with_capacity(2, data);
        let mut buf = Vec::new();
        let mut got = Vec::new();
        while read_line(&mut reader, 10, &mut buf).await.unwrap() {
            got.push(String::from_utf8(buf.clone()).unwrap());
        }
        assert_eq!(got, vec!["one", "two", "three"]);

        let long = [b'x'; 100];
        let mut reader = tokio::io::BufReader::new(&long[..]);
        assert!(matches!(
            read_line(&mut reader, 99, &mut buf).await,
            Err(LineError::TooLong)
        ));
    }
}
