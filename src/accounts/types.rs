//! The shapes of people shared by the server and the browser, and the newtypes that parse them.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::AppError;

/// What a person may do. Admins and platform admins reach the whole dashboard; managers and
/// members call tools (subject to their group) and manage only their own things.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::Type))]
#[cfg_attr(
    feature = "ssr",
    sqlx(type_name = "user_role", rename_all = "snake_case")
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    PlatformAdmin,
    Manager,
    Member,
}

impl Role {
    pub const ALL: [Role; 4] = [
        Role::Admin,
        Role::PlatformAdmin,
        Role::Manager,
        Role::Member,
    ];

    /// Whether this role reaches the admin dashboard.
    pub fn is_admin(self) -> bool {
        matches!(self, Role::Admin | Role::PlatformAdmin)
    }

    pub fn label(self) -> &'static str {
        match self {
            Role::Admin => "Admin",
            Role::PlatformAdmin => "Platform admin",
            Role::Manager => "Manager",
            Role::Member => "Member",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::PlatformAdmin => "platform_admin",
            Role::Manager => "manager",
            Role::Member => "member",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase().replace(['-', ' '], "_");
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == wanted)
            .ok_or_else(|| {
                format!(
                    "unknown role {s:?}; expected one of admin, platform_admin, manager, member"
                )
            })
    }
}

/// The signed-in person as the pages see them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Me {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub group_name: String,
}

/// An email address, trimmed and checked for the shape `local@domain`. Compared case-insensitively
/// by the database (a unique index on `lower(email)`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, AppError> {
        let email = raw.trim();
        let bad = |message: &str| Err(AppError::invalid("email", message));
        if email.is_empty() {
            return bad("Enter your email address.");
        }
        if email.len() > 254 {
            return bad("An email address is at most 254 characters.");
        }
        let Some((local, domain)) = email.rsplit_once('@') else {
            return bad("Enter an email address like name@example.com.");
        };
        let domain_ok = !domain.is_empty()
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..");
        if local.is_empty() || !domain_ok || email.chars().any(char::is_whitespace) {
            return bad("Enter an email address like name@example.com.");
        }
        Ok(Email(email.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before `@`, used as a display name when none is given.
    pub fn local_part(&self) -> &str {
        self.0.rsplit_once('@').map_or(&self.0, |(local, _)| local)
    }
}

impl TryFrom<String> for Email {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Email::parse(&value).map_err(|e| e.to_string())
    }
}

impl From<Email> for String {
    fn from(value: Email) -> Self {
        value.0
    }
}

impl std::fmt::Display for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The rules a new password must meet; checked in the browser and again on the server.
pub const MIN_PASSWORD_CHARS: usize = 10;
pub const MAX_PASSWORD_CHARS: usize = 256;

/// Checks a new password against the rules, naming `field` in the error.
pub fn check_new_password(field: &str, password: &str) -> Result<(), AppError> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(AppError::invalid(
            field,
            format!("Use at least {MIN_PASSWORD_CHARS} characters."),
        ));
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(AppError::invalid(
            field,
            format!("Use at most {MAX_PASSWORD_CHARS} characters."),
        ));
    }
    if password.trim().is_empty() {
        return Err(AppError::invalid(
            field,
            "A password cannot be only spaces.",
        ));
    }
    Ok(())
}

/// A `next` location after sign-in, kept only if it points inside Gatehouse.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') => {
            path.to_owned()
        }
        _ => "/".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_need_a_domain() {
        assert_eq!(
            Email::parse("  ada@example.com ").unwrap().as_str(),
            "ada@example.com"
        );
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@.com",
            "a da@example.com",
            "ada@x..y",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn roles_parse_from_their_names() {
        assert_eq!("admin".parse::<Role>().unwrap(), Role::Admin);
        assert_eq!(
            "Platform admin".parse::<Role>().unwrap(),
            Role::PlatformAdmin
        );
        assert!("owner".parse::<Role>().is_err());
        assert!(Role::PlatformAdmin.is_admin() && !Role::Manager.is_admin());
    }

    #[test]
    fn short_passwords_are_refused_with_the_rule() {
        let err = check_new_password("password", "short").unwrap_err();
        assert_eq!(
            err.for_field("password").unwrap(),
            "Use at least 10 characters."
        );
        assert!(check_new_password("password", "          ").is_err());
        assert!(check_new_password("password", "correct horse battery").is_ok());
    }

    #[test]
    fn next_only_stays_inside_gatehouse() {
        assert_eq!(safe_next(Some("/servers?x=1")), "/servers?x=1");
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(None), "/");
    }
}
