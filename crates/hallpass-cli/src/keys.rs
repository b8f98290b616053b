//! `hallpass keys generate | rotate`.

use std::io::Write;
use std::path::Path;

use hallpass::config::KeyError;
use hallpass::{Key, Keyring};
use zeroize::Zeroizing;

use crate::error::CliError;

const HEADER: &str = "# hallpass signing keys: one base64url key per line, the first signs.";

pub(crate) fn generate(mut out: impl Write) -> Result<(), CliError> {
    let key = Key::generate();
    writeln!(out, "{}", key.to_base64url().as_str())?;
    Ok(())
}

/// The file with a fresh key inserted after its leading comment lines.
fn rotated(existing: &str, key: &Key) -> Zeroizing<String> {
    let mut text = Zeroizing::new(String::with_capacity(existing.len() + 64));
    let mut lines = existing.lines().peekable();
    let mut header = false;
    while let Some(line) = lines.next_if(|line| line.trim_start().starts_with('#')) {
        text.push_str(line);
        text.push('\n');
        header = true;
    }
    if !header {
        text.push_str(HEADER);
        text.push('\n');
    }
    text.push_str(key.to_base64url().as_str());
    text.push('\n');
    for line in lines {
        text.push_str(line);
        text.push('\n');
    }
    text
}

pub(crate) fn rotate(path: &Path, mut out: impl Write) -> Result<(), CliError> {
    let file_error = |message: String| CliError::KeysFile {
        path: path.to_path_buf(),
        message,
    };
    let existing = match std::fs::read_to_string(path) {
        Ok(text) => Zeroizing::new(text),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Zeroizing::new(String::new()),
        Err(err) => return Err(file_error(err.to_string())),
    };
    let old = match Keyring::from_base64url_list(&existing) {
        Ok(keyring) => keyring.len(),
        Err(KeyError::Empty) => 0,
        // A damaged file is left exactly as it is.
        Err(err) => return Err(file_error(format!("{err}; nothing was changed"))),
    };
    let key = Key::generate();
    let text = rotated(&existing, &key);
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    // Written beside the target, then renamed over it: readers see the old file or the
    // new one, never half of one.
    let mut temp = tempfile::Builder::new()
        .prefix(".hallpass-keys")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .tempfile_in(dir)
        .map_err(|err| file_error(format!("cannot write beside it: {err}")))?;
    temp.write_all(text.as_bytes())
        .and_then(|()| temp.as_file().sync_all())
        .map_err(|err| file_error(err.to_string()))?;
    temp.persist(path)
        .map_err(|err| file_error(err.error.to_string()))?;
    writeln!(
        out,
        "{}: new primary key added ({} key{} in all{}). Deploy it to every server and restart them; \
         drop the oldest key once the sessions it signed have ended (the absolute timeout).",
        path.display(),
        old + 1,
        if old == 0 { "" } else { "s" },
        if old == 0 { ", file created" } else { "" }
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_new_key_goes_after_the_comments_and_before_the_old_keys() {
        let old = Key::generate();
        let old_text = old.to_base64url().as_str().to_owned();
        let key = Key::generate();
        let text = rotated(&format!("# mine\n{old_text}\n"), &key);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            ["# mine", key.to_base64url().as_str(), old_text.as_str()]
        );
        let fresh = rotated("", &key);
        assert_eq!(fresh.lines().next(), Some(HEADER));
        assert_eq!(Keyring::from_base64url_list(&fresh).unwrap().len(), 1);
    }
}
