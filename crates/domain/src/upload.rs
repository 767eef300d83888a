//! The rules for an upload's body, apart from the transport that carries it:
//! which parts are files, the per-file, per-field and whole-body limits, and
//! what a client's file path may contain. The web crate feeds the multipart
//! parts it reads into an [`UploadCollector`]; the fuzz crate feeds it parts
//! from arbitrary bytes through the same multipart parser, without building a
//! server.

use std::collections::HashMap;

/// The limits of one upload request, in bytes.
#[derive(Debug, Clone, Copy)]
pub struct UploadLimits {
    pub max_file_bytes: usize,
    pub max_body_bytes: usize,
    /// A text field beside the files (a label, a category).
    pub max_field_bytes: usize,
}

/// Why a whole upload is refused; nothing of it is stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UploadRefusal {
    #[error(
        "the request body is larger than the limit of {limit} bytes; send fewer files per request"
    )]
    BodyTooLarge { limit: usize },
    #[error("{path:?} is larger than the per-file limit of {limit} bytes")]
    FileTooLarge { path: String, limit: usize },
    #[error("form field {name:?} is larger than {limit} bytes")]
    FieldTooLarge { name: String, limit: usize },
    #[error("form field {name:?} is not UTF-8 text")]
    FieldNotText { name: String },
    #[error("no files: send one or more multipart parts named \"data\", each with a file name")]
    NoFiles,
}

impl UploadRefusal {
    /// Too large (413) rather than malformed (400).
    pub fn is_too_large(&self) -> bool {
        matches!(
            self,
            Self::BodyTooLarge { .. } | Self::FileTooLarge { .. } | Self::FieldTooLarge { .. }
        )
    }
}

/// One uploaded file, as sent. `path` may hold folders (a browser folder
/// upload sends `cifar3/train/ship/0001.jpg`); only its last part is stored.
#[derive(Debug, Clone)]
pub struct UploadedFile {
    pub path: String,
    pub bytes: Vec<u8>,
}

/// The files (parts named `data`) and the text fields beside them.
#[derive(Debug, Default)]
pub struct Upload {
    pub files: Vec<UploadedFile>,
    pub fields: HashMap<String, String>,
}

/// What the reader of the body should do after a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Read,
    /// The body is past twice its limit: stop reading, answer the refusal.
    Stop,
}

/// Collects an upload's parts within its limits.
///
/// A body over a limit is still read to its end (up to twice the body
/// limit), so that a client still writing it sees the 413 rather than a
/// broken pipe; past that the reader stops.
pub struct UploadCollector {
    limits: UploadLimits,
    total: usize,
    refusal: Option<UploadRefusal>,
    part: Option<(String, String, Vec<u8>)>,
    upload: Upload,
}

impl UploadCollector {
    pub fn new(limits: UploadLimits) -> Self {
        Self {
            limits,
            total: 0,
            refusal: None,
            part: None,
            upload: Upload::default(),
        }
    }

    /// Starts a part with its form name and file name (empty when absent);
    /// ends the previous one.
    pub fn begin_part(&mut self, name: &str, file_name: &str) {
        self.end_part();
        self.part = Some((name.to_owned(), file_name.to_owned(), Vec::new()));
    }

    /// Takes the next chunk of the current part.
    pub fn chunk(&mut self, chunk: &[u8]) -> Next {
        self.total = self.total.saturating_add(chunk.len());
        if self.refusal.is_some() {
            return if self.total > self.limits.max_body_bytes.saturating_mul(2) {
                Next::Stop
            } else {
                Next::Read
            };
        }
        let Some((name, path, bytes)) = &mut self.part else {
            return Next::Read;
        };
        let is_file = name == "data";
        let room = if is_file {
            self.limits.max_file_bytes
        } else {
            self.limits.max_field_bytes
        };
        if self.total > self.limits.max_body_bytes {
            self.refusal = Some(UploadRefusal::BodyTooLarge {
                limit: self.limits.max_body_bytes,
            });
        } else if bytes.len() + chunk.len() > room {
            self.refusal = Some(if is_file {
                UploadRefusal::FileTooLarge {
                    path: path.clone(),
                    limit: room,
                }
            } else {
                UploadRefusal::FieldTooLarge {
                    name: name.clone(),
                    limit: room,
                }
            });
        } else {
            bytes.extend_from_slice(chunk);
        }
        Next::Read
    }

    fn end_part(&mut self) {
        let Some((name, path, bytes)) = self.part.take() else {
            return;
        };
        if self.refusal.is_some() {
            return;
        }
        if name == "data" && path.is_empty() && bytes.is_empty() {
            // A form's file input left empty (or the one of two pickers
            // not used) still sends a part, with no file name and no bytes:
            // nothing was chosen there, so it is not a file.
            return;
        }
        if name == "data" {
            // Edge Impulse's uploader sends bounding boxes and structured
            // labels as extra `.labels` parts beside the images; they are not
            // samples.
            if !path.ends_with(".labels") {
                self.upload.files.push(UploadedFile { path, bytes });
            }
        } else {
            match String::from_utf8(bytes) {
                Ok(value) => {
                    self.upload.fields.insert(name, value);
                }
                Err(_) => self.refusal = Some(UploadRefusal::FieldNotText { name }),
            }
        }
    }

    /// The upload, or why all of it is refused.
    pub fn finish(mut self) -> Result<Upload, UploadRefusal> {
        self.end_part();
        if let Some(refusal) = self.refusal {
            return Err(refusal);
        }
        if self.upload.files.is_empty() {
            return Err(UploadRefusal::NoFiles);
        }
        Ok(self.upload)
    }
}

/// The last part of a path as sent by a client; never used as a path.
pub fn base_name(path: &str) -> &str {
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}

/// The folders of a client's path, outermost first.
pub fn folders(path: &str) -> Vec<&str> {
    let mut parts: Vec<&str> = path.split(['/', '\\']).filter(|p| !p.is_empty()).collect();
    parts.pop();
    parts
}

/// A file name the studio will store and show, or why not.
pub fn check_file_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the part has no file name".into());
    }
    if name.chars().count() > 255 {
        return Err("the file name is longer than 255 characters".into());
    }
    if name.chars().any(char::is_control) {
        return Err("the file name contains control characters".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: UploadLimits = UploadLimits {
        max_file_bytes: 10,
        max_body_bytes: 25,
        max_field_bytes: 4,
    };

    #[test]
    fn paths_split_into_folders_and_base_name() {
        assert_eq!(base_name("a/b/c.jpg"), "c.jpg");
        assert_eq!(base_name("c.jpg"), "c.jpg");
        assert_eq!(base_name("a\\b.png"), "b.png");
        assert_eq!(
            folders("cifar3/train/ship/1.jpg"),
            vec!["cifar3", "train", "ship"]
        );
        assert!(folders("1.jpg").is_empty());
    }

    #[test]
    fn an_empty_file_input_is_no_file() {
        let mut c = UploadCollector::new(LIMITS);
        c.begin_part("data", "");
        c.begin_part("data", "cat.jpg");
        assert_eq!(c.chunk(b"123"), Next::Read);
        let upload = c.finish().unwrap();
        assert_eq!(upload.files.len(), 1);
        assert_eq!(upload.files[0].path, "cat.jpg");
    }

    #[test]
    fn files_fields_and_side_files() {
        let mut c = UploadCollector::new(LIMITS);
        c.begin_part("data", "a/cat.jpg");
        assert_eq!(c.chunk(b"12345"), Next::Read);
        c.chunk(b"678");
        c.begin_part("data", "cat.labels");
        c.chunk(b"{}");
        c.begin_part("label", "");
        c.chunk(b"cat");
        let upload = c.finish().unwrap();
        assert_eq!(upload.files.len(), 1);
        assert_eq!(upload.files[0].path, "a/cat.jpg");
        assert_eq!(upload.files[0].bytes, b"12345678");
        assert_eq!(upload.fields["label"], "cat");
    }

    #[test]
    fn each_limit_refuses_the_whole_upload() {
        let mut c = UploadCollector::new(LIMITS);
        c.begin_part("data", "big.jpg");
        c.chunk(&[0; 11]);
        assert!(matches!(
            c.finish(),
            Err(UploadRefusal::FileTooLarge { limit: 10, .. })
        ));

        let mut c = UploadCollector::new(LIMITS);
        c.begin_part("label", "");
        c.chunk(b"12345");
        let refusal = c.finish().unwrap_err();
        assert!(refusal.is_too_large());
        assert!(refusal.to_string().contains("\"label\""), "{refusal}");

        let mut c = UploadCollector::new(LIMITS);
        for i in 0..3 {
            c.begin_part("data", &format!("{i}.jpg"));
            c.chunk(&[0; 9]);
        }
        assert_eq!(
            c.finish().unwrap_err(),
            UploadRefusal::BodyTooLarge { limit: 25 }
        );

        let mut c = UploadCollector::new(LIMITS);
        c.begin_part("label", "");
        c.chunk(&[0xFF]);
        c.begin_part("data", "ok.jpg");
        c.chunk(b"1");
        assert!(matches!(
            c.finish(),
            Err(UploadRefusal::FieldNotText { .. })
        ));

        assert_eq!(
            UploadCollector::new(LIMITS).finish().unwrap_err(),
            UploadRefusal::NoFiles
        );
    }

    #[test]
    fn reading_stops_past_twice_the_body_limit() {
        let mut c = UploadCollector::new(LIMITS);
        c.begin_part("data", "a.jpg");
        assert_eq!(c.chunk(&[0; 30]), Next::Read);
        assert_eq!(c.chunk(&[0; 20]), Next::Read);
        assert_eq!(c.chunk(&[0; 1]), Next::Stop);
    }

    #[test]
    fn file_names() {
        assert!(check_file_name("cat.jpg").is_ok());
        assert!(check_file_name("").is_err());
        assert!(check_file_name("a\u{7}.jpg").is_err());
        assert!(check_file_name(&"x".repeat(256)).is_err());
    }
}
