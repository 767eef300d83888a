//! What must hold after any fault (a crash, a full disk, a lost database):
//! the checks the fault tests share.

use std::path::Path;

use serde_json::Value;
use sha2::{Digest, Sha256};

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Every sample row (as the API lists them) has its original and thumbnail
/// in `data_dir`'s blob folder, and the original hashes to the row's hash;
/// every original in the folder is whole (hashes to its name). Temporary
/// files are the caller's to judge.
pub fn assert_samples_whole(data_dir: &Path, samples: &[Value]) {
    let blobs = data_dir.join("blobs");
    for sample in samples {
        let sha = sample["sha256"].as_str().expect("a sample's hash");
        let original = std::fs::read(blobs.join(format!("samples/{}/{sha}", &sha[..2])))
            .unwrap_or_else(|e| panic!("sample {} has a row but no file: {e}", sample["id"]));
        assert_eq!(
            sha256_hex(&original),
            sha,
            "sample {} is torn",
            sample["id"]
        );
        assert!(
            blobs
                .join(format!("thumbs/{}/{sha}.jpg", &sha[..2]))
                .exists(),
            "sample {} has no thumbnail",
            sample["id"]
        );
    }
    for shard in std::fs::read_dir(blobs.join("samples"))
        .into_iter()
        .flatten()
    {
        for file in std::fs::read_dir(shard.unwrap().path()).unwrap() {
            let path = file.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            assert_eq!(
                sha256_hex(&std::fs::read(&path).unwrap()),
                name,
                "a torn original: {}",
                path.display()
            );
        }
    }
}

/// Files in the blob store's temporary folder.
pub fn temporaries(data_dir: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(data_dir.join("blobs/tmp"))
        .map(|entries| entries.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default()
}

/// A model row has every file the training job stores for it.
pub fn assert_model_whole(data_dir: &Path, model_id: &str) {
    use tinystudio_domain::artifacts::{FLOAT_MODEL_FILES, MODEL_BLOB, MODEL_TFLITE};
    let dir = data_dir.join("blobs/artifacts").join(model_id);
    for name in FLOAT_MODEL_FILES
        .iter()
        .copied()
        .chain([MODEL_BLOB, MODEL_TFLITE])
    {
        let len = std::fs::metadata(dir.join(name))
            .unwrap_or_else(|e| panic!("model {model_id} has a row but no {name}: {e}"))
            .len();
        assert!(len > 0, "model {model_id}: {name} is empty");
    }
}
