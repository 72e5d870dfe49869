//! The creation wizard's rules: turning what was typed into a server to create, with a message
//! that names the field for every mistake.

use super::{
    CommandTransport, RemoteTransport, ServerSource, Slug, api::WizardDraft, service::NewServer,
};
use crate::error::AppError;

/// Checks step 1 and returns the URL name the server will get.
pub fn check_basics(draft: &WizardDraft) -> Result<Slug, AppError> {
    if draft.name.is_empty() {
        return Err(AppError::invalid("name", "Give the server a name."));
    }
    if draft.name.chars().count() > 80 {
        return Err(AppError::invalid(
            "name",
            "A name is at most 80 characters.",
        ));
    }
    if draft.description.chars().count() > 2000 {
        return Err(AppError::invalid(
            "description",
            "A description is at most 2,000 characters.",
        ));
    }
    source_of(draft)?;
    if draft.slug.is_empty() {
        Slug::from_name(&draft.name)
    } else {
        Slug::parse(&draft.slug)
    }
}

pub fn source_of(draft: &WizardDraft) -> Result<ServerSource, AppError> {
    match draft.source_kind.as_str() {
        "remote" => Ok(ServerSource::Remote {
            url: ServerSource::parse_remote_url(&draft.url)?,
            transport: match draft.remote_transport.as_str() {
                "sse" => RemoteTransport::Sse,
                _ => RemoteTransport::StreamableHttp,
            },
        }),
        "command" => {
            let words = shlex::split(&draft.command_line).ok_or_else(|| {
                AppError::invalid("command_line", "The command has an unclosed quote.")
            })?;
            let Some((command, args)) = words.split_first() else {
                return Err(AppError::invalid(
                    "command_line",
                    "Enter the command that starts the server.",
                ));
            };
            let path = draft.path.trim();
            if !path.starts_with('/') {
                return Err(AppError::invalid(
                    "path",
                    "The MCP path starts with a slash, like /mcp.",
                ));
            }
            Ok(ServerSource::Command {
                command: command.clone(),
                args: args.to_vec(),
                transport: match draft.command_transport.as_str() {
                    "http" => CommandTransport::Http,
                    _ => CommandTransport::Stdio,
                },
                path: path.to_owned(),
            })
        }
        "git" => Err(AppError::invalid(
            "source_kind",
            "Deploying from a git repository is not available yet; use a remote URL or a command.",
        )),
        _ => Err(AppError::invalid(
            "source_kind",
            "Choose where the server comes from.",
        )),
    }
}

/// Parses `NAME=value` lines (blank lines and `#` comments ignored), checking every name.
pub fn parse_env(text: &str) -> Result<Vec<(String, String)>, AppError> {
    let mut vars: Vec<(String, String)> = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((name, value)) = line.split_once('=') else {
            return Err(AppError::invalid(
                "env",
                format!("Line {} is not NAME=value.", number + 1),
            ));
        };
        let name = super::EnvVarName::parse(name)
            .map_err(|e| AppError::invalid("env", format!("Line {}: {e}", number + 1)))?;
        if vars.iter().any(|(n, _)| n == name.as_str()) {
            return Err(AppError::invalid("env", format!("{name} is listed twice.")));
        }
        vars.push((
            name.as_str().to_owned(),
            value.trim_end_matches('\r').to_owned(),
        ));
    }
    Ok(vars)
}

pub fn to_new_server(draft: &WizardDraft) -> Result<NewServer, AppError> {
    if !draft.basics_done {
        return Err(AppError::invalid(
            "step",
            "Complete step 1 (basic information) first.",
        ));
    }
    check_basics(draft)?;
    Ok(NewServer {
        name: draft.name.clone(),
        slug: (!draft.slug.is_empty()).then(|| draft.slug.clone()),
        description: draft.description.clone(),
        source: Some(source_of(draft)?),
        auth_method: None,
        env: parse_env(&draft.env)?,
        call_timeout_ms: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft() -> WizardDraft {
        WizardDraft {
            name: "Time".into(),
            source_kind: "command".into(),
            command_line: "uvx mcp-server-time --local-timezone 'Europe/Paris'".into(),
            command_transport: "stdio".into(),
            path: "/mcp".into(),
            basics_done: true,
            ..WizardDraft::default()
        }
    }

    #[test]
    fn a_command_line_is_split_like_a_shell_would() {
        let ServerSource::Command { command, args, .. } = source_of(&draft()).unwrap() else {
            panic!()
        };
        assert_eq!(command, "uvx");
        assert_eq!(
            args,
            ["mcp-server-time", "--local-timezone", "Europe/Paris"]
        );
        let mut bad = draft();
        bad.command_line = "echo 'oops".into();
        assert_eq!(
            source_of(&bad)
                .unwrap_err()
                .for_field("command_line")
                .unwrap(),
            "The command has an unclosed quote."
        );
    }

    #[test]
    fn env_lines_are_checked_one_by_one() {
        let vars = parse_env("# comment\nAPI_KEY=abc=def\n\nREGION=eu\r\n").unwrap();
        assert_eq!(
            vars,
            [
                ("API_KEY".into(), "abc=def".into()),
                ("REGION".into(), "eu".into())
            ]
        );
        let err = parse_env("OK=1\nGUMSTACK_TOKEN=x").unwrap_err();
        assert_eq!(
            err.for_field("env").unwrap(),
            "Line 2: Names starting with GUMSTACK_ are reserved by the platform."
        );
        assert!(parse_env("A=1\nA=2").is_err());
        assert!(parse_env("just words").is_err());
    }

    #[test]
    fn git_sources_are_not_offered_yet() {
        let mut git = draft();
        git.source_kind = "git".into();
        assert!(
            source_of(&git)
                .unwrap_err()
                .to_string()
                .contains("not available yet")
        );
    }
}
