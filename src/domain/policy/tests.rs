use super::*;
use serde_json::json;

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn host_path_is_never_allowed_even_when_configured() {
    let err = WorkloadPolicy::new(&strings(&["hostPath"]), &[], &[], "grnry-belt").unwrap_err();
    assert!(
        err.contains("BELT_ALLOWED_VOLUME_TYPES") && err.contains("hostPath"),
        "{err}"
    );
    let err = WorkloadPolicy::new(&strings(&["nfs"]), &[], &[], "grnry-belt").unwrap_err();
    assert!(err.contains("'nfs'"), "{err}");
}

#[test]
fn the_default_volume_types() {
    let policy = WorkloadPolicy::default();
    for kind in [
        "configMap",
        "emptyDir",
        "persistentVolumeClaim",
        "secret",
        "projected",
    ] {
        let volume = json!({"name": "v", kind: {"name": "x", "secretName": "x", "claimName": "c", "sources": []}});
        assert_eq!(policy.check_volumes(&[volume], None), Ok(()), "{kind}");
    }
    for kind in ["hostPath", "nfs", "downwardAPI", "csi", "iscsi"] {
        let volume = json!({"name": "v", kind: {"path": "/"}});
        assert!(policy.check_volumes(&[volume], None).is_err(), "{kind}");
    }
    assert!(policy
        .check_volumes(
            &[json!({"name": "v", "emptyDir": {}, "hostPath": {"path": "/"}})],
            None
        )
        .is_err());
}

#[test]
fn projected_volumes_carry_no_service_account_token() {
    let policy = WorkloadPolicy::default();
    let token =
        json!({"name": "v", "projected": {"sources": [{"serviceAccountToken": {"path": "t"}}]}});
    assert!(policy
        .check_volumes(&[token], None)
        .unwrap_err()
        .contains("service-account token"));
    let fine = json!({"name": "v", "projected": {"sources": [{"secret": {"name": "s"}}, {"configMap": {"name": "c"}}]}});
    assert_eq!(policy.check_volumes(&[fine], None), Ok(()));
}

#[test]
fn another_belts_code_is_out_of_reach() {
    let policy = WorkloadPolicy::default();
    let theirs = json!({"name": "v", "configMap": {"name": "grnry-belt-7"}});
    assert!(policy
        .check_volumes(std::slice::from_ref(&theirs), None)
        .is_err());
    assert_eq!(
        policy.check_volumes(&[theirs], Some("grnry-belt-7")),
        Ok(())
    );
    let env = json!({"name": "X", "valueFrom": {"configMapKeyRef": {"name": "grnry-belt-7", "key": "callback.py"}}});
    assert!(check_env(&[env], None).is_err());
}

#[test]
fn images_exact_or_under_a_prefix() {
    let policy = WorkloadPolicy::new(
        &strings(&["configMap"]),
        &strings(&["registry.example.com/belts/", "grnry-belt"]),
        &[],
        "grnry-belt",
    )
    .unwrap();
    for ok in [
        "grnry-belt",
        "registry.example.com/belts/x",
        "registry.example.com/belts/team/x",
    ] {
        assert_eq!(policy.check_image_name(ok), Ok(()), "{ok}");
    }
    for bad in [
        "grnry-belt-evil",
        "docker.io/library/grnry-belt",
        "registry.example.com/beltsx",
        "registry.example.com/belts/../evil",
        "registry.example.com/belts//x",
        "evil.example.com/belts/x",
    ] {
        assert!(policy.check_image_name(bad).is_err(), "{bad}");
    }
    let err = WorkloadPolicy::new(&[], &strings(&["other/"]), &[], "grnry-belt").unwrap_err();
    assert!(err.contains("BELT_IMAGE_NAME"), "{err}");
}

#[test]
fn by_default_images_next_to_the_belt_image() {
    // `grnry-belt` has no registry: names without one (the v2 PUT example's
    // `custom-grnry-belt`), nothing from a registry or a Docker Hub account.
    let policy = WorkloadPolicy::default();
    for ok in ["grnry-belt", "custom-grnry-belt"] {
        assert_eq!(policy.check_image_name(ok), Ok(()), "{ok}");
    }
    for bad in [
        "evil/miner",
        "evil.example.com/miner",
        "docker.io/library/grnry-belt",
        "localhost:5000",
    ] {
        assert!(policy.check_image_name(bad).is_err(), "{bad}");
    }
    let qualified =
        WorkloadPolicy::new(&[], &[], &[], "registry.example.com/belts/grnry-belt").unwrap();
    assert_eq!(
        qualified.check_image_name("registry.example.com/belts/custom"),
        Ok(())
    );
    for bad in ["grnry-belt", "registry.example.com/other/x"] {
        assert!(qualified.check_image_name(bad).is_err(), "{bad}");
    }
}

#[test]
fn url_and_file_requirements_are_refused_unless_configured() {
    let policy = WorkloadPolicy::default();
    assert_eq!(
        policy.check_requirements("package1==0.0.0\r\npackage2\n# c\n"),
        Ok(())
    );
    for line in [
        "pkg @ file:///etc/passwd",
        "pkg @ https://example.com/pkg-1.0-py3-none-any.whl",
        "pkg @ git+https://github.com/org/pkg.git@v1.0",
        "ok==1\npkg@https://example.com/p.whl # note",
    ] {
        let err = policy.check_requirements(line).unwrap_err();
        assert!(err.contains("URL or file"), "{line}: {err}");
    }
    let configured = WorkloadPolicy::new(
        &[],
        &[],
        &strings(&["https://pypi.internal/wheels/"]),
        "grnry-belt",
    )
    .unwrap();
    assert_eq!(
        configured
            .check_requirements("pkg @ https://pypi.internal/wheels/pkg-1.0-py3-none-any.whl"),
        Ok(())
    );
    assert_eq!(
        configured.check_requirements("pkg @ https://pypi.internal/wheels/pkg.whl#sha256=0a1b"),
        Ok(())
    );
    // pip builds a source distribution named by its URL even with `--only-binary=:all:`.
    for line in [
        "pkg @ https://pypi.internal/wheels/pkg-1.0.tar.gz",
        "pkg @ https://pypi.internal/wheels/pkg-1.0.zip",
        "pkg @ https://pypi.internal/wheels/pkg-1.0.tar.gz?f=pkg.whl",
        "pkg @ https://pypi.internal/wheels/pkg-1.0.tar.gz#egg=pkg.whl",
    ] {
        let err = configured.check_requirements(line).unwrap_err();
        assert!(err.contains("not a wheel (.whl)"), "{line}: {err}");
    }
    for line in [
        "pkg @ https://pypi.internal/wheels/../secret/pkg.whl",
        "pkg @ https://pypi.internal.evil.com/wheels/pkg.whl",
        "pkg @ file:///pypi.internal/wheels/pkg.whl",
    ] {
        assert!(configured.check_requirements(line).is_err(), "{line}");
    }
    for bad in ["https://pypi.internal", "not a url/"] {
        assert!(
            WorkloadPolicy::new(&[], &[], &strings(&[bad]), "grnry-belt").is_err(),
            "{bad}"
        );
    }
}

#[test]
fn server_defaults_that_break_the_policy_stop_the_server() {
    use crate::domain::defaults::{settings_for_tests, DefaultSettings};
    let with = |change: fn(&mut DefaultSettings)| {
        let mut settings = settings_for_tests();
        change(&mut settings);
        settings
    };
    let cases: [(DefaultSettings, &str); 4] = [
        (
            with(|s| s.volumes = Some(r#"[{"name": "r", "hostPath": {"path": "/"}}]"#.into())),
            "BELT_VOLUMES",
        ),
        (
            with(|s| {
                s.extra_env = Some(
                    r#"[{"name": "C", "valueFrom": {"configMapKeyRef": {"name": "grnry-belt-1", "key": "k"}}}]"#.into(),
                )
            }),
            "BELT_EXTRA_ENV",
        ),
        (
            with(|s| s.allowed_volume_types = strings(&["emptyDir", "hostPath"])),
            "BELT_ALLOWED_VOLUME_TYPES",
        ),
        (
            with(|s| s.allowed_images = strings(&["registry.example.com/"])),
            "BELT_IMAGE_NAME",
        ),
    ];
    for (settings, variable) in cases {
        let err = WorkloadPolicy::from_config(settings.clone()).unwrap_err();
        assert!(err.contains(variable), "{settings:?}: {err}");
    }
    assert_eq!(
        WorkloadPolicy::from_config(settings_for_tests()),
        Ok(WorkloadPolicy::default())
    );
}

#[test]
fn bidirectional_mounts_are_refused() {
    let mount = json!({"name": "v", "mountPath": "/x", "mountPropagation": "Bidirectional"});
    assert!(check_volume_mounts(&[mount]).is_err());
    assert_eq!(
        check_volume_mounts(&[json!({"name": "v", "mountPath": "/x"})]),
        Ok(())
    );
}
