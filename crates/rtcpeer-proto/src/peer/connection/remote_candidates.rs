//! What `addIceCandidate` writes into `remoteDescription` (webrtc-pc §4.4.1.6 addIceCandidate:
//! the candidate, or `a=end-of-candidates`, joins the media section it belongs to).

use super::PeerConnection;

/// Past this length the remote description is left as it is: the candidates still reach ICE,
/// which has its own limit, but the text stops growing.
const MAX_REMOTE_DESCRIPTION_LEN: usize = 256 * 1024;

impl PeerConnection {
    /// Appends `line` (without its CRLF) to media section `section` of the remote description
    /// the application reads, or to every section for `None`. A line the section already has
    /// is not added twice.
    pub(super) fn record_remote_line(&mut self, section: Option<usize>, line: &str) {
        let Some(desc) = self.pending_remote.as_mut().or(self.current_remote.as_mut()) else {
            return;
        };
        if desc.sdp.len() + line.len() > MAX_REMOTE_DESCRIPTION_LEN {
            return;
        }
        desc.sdp = insert_line(&desc.sdp, section, line);
    }
}

/// `sdp` with `line` at the end of media section `section` (every section for `None`).
fn insert_line(sdp: &str, section: Option<usize>, line: &str) -> String {
    let mut out = String::with_capacity(sdp.len() + line.len() + 2);
    let mut index: Option<usize> = None;
    let mut section_has_line = false;
    let close_section = |out: &mut String, index: Option<usize>, has: bool| {
        if let Some(i) = index {
            if section.is_none_or(|s| s == i) && !has {
                out.push_str(line);
                out.push_str("\r\n");
            }
        }
    };
    for l in sdp.split_terminator('\n').map(|l| l.trim_end_matches('\r')) {
        if l.starts_with("m=") {
            close_section(&mut out, index, section_has_line);
            index = Some(index.map_or(0, |i| i + 1));
            section_has_line = false;
        }
        section_has_line |= l == line;
        out.push_str(l);
        out.push_str("\r\n");
    }
    close_section(&mut out, index, section_has_line);
    out
}

#[cfg(test)]
mod tests {
    use super::insert_line;

    const SDP: &str = "v=0\r\ns=-\r\nm=audio 9 X 0\r\na=mid:0\r\nm=video 9 X 96\r\na=mid:1\r\n";

    #[test]
    fn a_line_goes_to_the_end_of_its_section_only() {
        assert_eq!(
            insert_line(SDP, Some(0), "a=candidate:x"),
            "v=0\r\ns=-\r\nm=audio 9 X 0\r\na=mid:0\r\na=candidate:x\r\nm=video 9 X 96\r\na=mid:1\r\n"
        );
        assert_eq!(
            insert_line(SDP, Some(1), "a=candidate:x"),
            format!("{SDP}a=candidate:x\r\n")
        );
    }

    #[test]
    fn end_of_candidates_goes_to_every_section_once() {
        let once = insert_line(SDP, None, "a=end-of-candidates");
        assert_eq!(once.matches("a=end-of-candidates").count(), 2);
        assert_eq!(insert_line(&once, None, "a=end-of-candidates"), once);
    }

    #[test]
    fn a_section_that_does_not_exist_changes_nothing() {
        assert_eq!(insert_line(SDP, Some(5), "a=x"), SDP);
    }
}
