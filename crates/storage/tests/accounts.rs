//! Accounts on both databases: passwords verify only as set, sessions
//! open only with their token and end with a password change, the first
//! admin is made once and inherits the projects made before accounts, a
//! project never loses its last owner, an instructor reads their students'
//! projects and nobody else's, and keys keep their scope and maker.

mod common;

use tinystudio_domain::{KeyScope, Role};
use tinystudio_storage::{Db, StorageError, classes, keys, members, projects, sessions, users};

async fn accounts(db: Db) {
    assert!(!users::any_exist(&db).await.unwrap());
    let old = projects::create(&db, "made before accounts").await.unwrap();

    let admin = users::create_first_admin(&db, "ada", "correct horse")
        .await
        .unwrap();
    assert!(admin.is_admin);
    assert!(users::any_exist(&db).await.unwrap());
    assert_eq!(
        members::role_of(&db, old.id, admin.id).await.unwrap(),
        Some(Role::Owner)
    );
    assert!(matches!(
        users::create_first_admin(&db, "eve", "correct horse").await,
        Err(StorageError::Conflict(_))
    ));
    assert!(users::by_name(&db, "eve").await.unwrap().is_none());

    // Passwords.
    assert!(
        users::verify(&db, "ada", "correct horse")
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        users::verify(&db, "ada", "wrong horse")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        users::verify(&db, "nobody", "correct horse")
            .await
            .unwrap()
            .is_none()
    );
    assert!(matches!(
        users::create(&db, "ada", "another one", false).await,
        Err(StorageError::Conflict(_))
    ));

    // Sessions: only the token opens one; a password change ends the others.
    let (s1, t1) = sessions::create(&db, admin.id, 60_000).await.unwrap();
    let (_s2, t2) = sessions::create(&db, admin.id, 60_000).await.unwrap();
    let (found, user) = sessions::authenticate(&db, &t1).await.unwrap().unwrap();
    assert_eq!((found.id, user.id), (s1.id, admin.id));
    assert!(
        sessions::authenticate(&db, "ses_0000")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        sessions::authenticate(&db, "not a token")
            .await
            .unwrap()
            .is_none()
    );
    users::set_password(&db, admin.id, "battery staple")
        .await
        .unwrap();
    sessions::delete_for_user(&db, admin.id, Some(s1.id))
        .await
        .unwrap();
    assert!(sessions::authenticate(&db, &t1).await.unwrap().is_some());
    assert!(sessions::authenticate(&db, &t2).await.unwrap().is_none());
    assert!(
        users::verify(&db, "ada", "correct horse")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        users::verify(&db, "ada", "battery staple")
            .await
            .unwrap()
            .is_some()
    );
    sessions::delete(&db, s1.id).await.unwrap();
    assert!(sessions::authenticate(&db, &t1).await.unwrap().is_none());
    let (_s3, expired) = sessions::create(&db, admin.id, -1).await.unwrap();
    assert!(
        sessions::authenticate(&db, &expired)
            .await
            .unwrap()
            .is_none()
    );

    // The last admin stays an admin.
    assert!(matches!(
        users::set_admin(&db, admin.id, false).await,
        Err(StorageError::Conflict(_))
    ));

    // Members: roles, and the last owner.
    let bob = users::create(&db, "bob", "bob's password", false)
        .await
        .unwrap();
    let cy = users::create(&db, "cy", "cy's password!", false)
        .await
        .unwrap();
    let p = projects::create_owned(&db, "bob's", Some(bob.id))
        .await
        .unwrap();
    assert_eq!(
        members::access(&db, p.id, bob.id).await.unwrap(),
        Some(Role::Owner)
    );
    assert_eq!(members::access(&db, p.id, cy.id).await.unwrap(), None);
    members::add(&db, p.id, cy.id, Role::Viewer).await.unwrap();
    assert!(matches!(
        members::add(&db, p.id, cy.id, Role::Editor).await,
        Err(StorageError::Conflict(_))
    ));
    assert!(matches!(
        members::set_role(&db, p.id, bob.id, Role::Editor).await,
        Err(StorageError::Conflict(_))
    ));
    assert!(matches!(
        members::remove(&db, p.id, bob.id).await,
        Err(StorageError::Conflict(_))
    ));
    members::set_role(&db, p.id, cy.id, Role::Owner)
        .await
        .unwrap();
    members::remove(&db, p.id, bob.id).await.unwrap();
    assert_eq!(members::access(&db, p.id, bob.id).await.unwrap(), None);
    let mine = members::projects_of(&db, cy.id).await.unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!((mine[0].0.project.id, mine[0].1), (p.id, Role::Owner));
    assert!(members::projects_of(&db, bob.id).await.unwrap().is_empty());

    // Classes: the instructor reads their students' projects, read-only.
    let class = classes::create(&db, "Tiny ML 101", admin.id).await.unwrap();
    let code = class.display_code();
    let typed = classes::normalize_code(&code.to_lowercase()).unwrap();
    assert_eq!(
        classes::by_code(&db, &typed).await.unwrap().unwrap().id,
        class.id
    );
    assert!(classes::normalize_code("0OIL-0000").is_none());
    classes::add_student(&db, class.id, bob.id).await.unwrap();
    classes::add_student(&db, class.id, bob.id).await.unwrap();
    let bobs = projects::create_owned(&db, "bob's second", Some(bob.id))
        .await
        .unwrap();
    assert_eq!(
        members::access(&db, bobs.id, admin.id).await.unwrap(),
        Some(Role::Viewer)
    );
    // cy is no student of the class: the instructor does not see her project.
    assert_eq!(members::access(&db, p.id, admin.id).await.unwrap(), None);
    let listed = classes::projects(&db, class.id).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].project_id, listed[0].student.as_str()),
        (bobs.id, "bob")
    );
    assert!(listed[0].metrics.is_none());
    assert_eq!(classes::students(&db, class.id).await.unwrap().len(), 1);
    assert_eq!(classes::list(&db).await.unwrap()[0].students, 1);
    classes::set_open(&db, class.id, false).await.unwrap();
    assert!(!classes::get(&db, class.id).await.unwrap().is_open());

    // Keys: scope and maker are kept; old-style keys are full and the operator's.
    let (k, secret) = keys::create_with(&db, bobs.id, "camera", KeyScope::Ingestion, Some(bob.id))
        .await
        .unwrap();
    let found = keys::authenticate(&db, &secret).await.unwrap().unwrap();
    assert_eq!((found.id, found.scope), (k.id, KeyScope::Ingestion));
    assert_eq!(found.created_by, Some(bob.id));
    assert!(!found.by_operator);
    let (_, op) = keys::create(&db, bobs.id, "script").await.unwrap();
    let found = keys::authenticate(&db, &op).await.unwrap().unwrap();
    assert_eq!(found.scope, KeyScope::Full);
    assert!(found.by_operator);

    // Deleting a project takes its members with it.
    projects::delete(&db, bobs.id).await.unwrap();
    assert!(classes::projects(&db, class.id).await.unwrap().is_empty());
}

#[tokio::test]
async fn sqlite() {
    let (_dir, db) = common::sqlite().await;
    accounts(db).await;
}

#[tokio::test]
async fn postgres() {
    accounts(common::postgres().await).await;
}
