//! The uids drafts lease (docs/local-sandbox.md#drafts): a run of a belt not saved yet has no
//! belt id, so it cannot have `uid_base + id`. Its uid comes from a small range just below
//! `uid_base`, which no belt's runs ever get (theirs are `uid_base + id` with ids from 1, the
//! builds' `uid_base` itself). The range is checked once at startup, and refused (fail closed:
//! drafts then answer 503, belts keep running) rather than risk sharing a uid with anything.

use std::ops::Range;

/// Below this, uids are the host's own (system and login accounts, 16-bit uids).
const LOWEST: u32 = 65_536;

/// `count` uids ending just below `base`, or why they cannot be reserved safely.
pub(super) fn draft_uids(base: u32, count: u32) -> Result<Range<u32>, String> {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    checked(base, count, &passwd)
}

fn checked(base: u32, count: u32, passwd: &str) -> Result<Range<u32>, String> {
    let start = base
        .checked_sub(count)
        .filter(|start| *start >= LOWEST && count > 0)
        .ok_or_else(|| {
            format!(
                "drafts need {count} uids below BELT_LOCAL_SANDBOX_UID_BASE={base} and above \
                 {LOWEST} (the host's own uids); raise BELT_LOCAL_SANDBOX_UID_BASE"
            )
        })?;
    let range = start..base;
    let account = passwd.lines().find(|line| {
        let uid = line
            .split(':')
            .nth(2)
            .and_then(|uid| uid.parse::<u32>().ok());
        uid.is_some_and(|uid| range.contains(&uid))
    });
    if let Some(account) = account {
        let name = account.split(':').next().unwrap_or_default();
        return Err(format!(
            "the uids drafts would run as ({start}..{base}, below BELT_LOCAL_SANDBOX_UID_BASE) \
             include the account '{name}' of /etc/passwd; move BELT_LOCAL_SANDBOX_UID_BASE"
        ));
    }
    Ok(range)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_range_ends_just_below_the_base() {
        assert_eq!(
            checked(1_000_000_000, 2, ""),
            Ok(999_999_998..1_000_000_000)
        );
    }

    #[test]
    fn host_uids_and_accounts_are_refused() {
        assert!(checked(65_537, 2, "").unwrap_err().contains("raise"));
        assert!(checked(100_000, 0, "").is_err());
        let passwd = "root:x:0:0::/root:/bin/sh\nodd:x:99990:99990::/:/bin/sh\n";
        let refused = checked(100_000, 16, passwd).unwrap_err();
        assert!(refused.contains("'odd'"), "{refused}");
        assert!(checked(100_000, 4, passwd).is_ok());
    }
}
