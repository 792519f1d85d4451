//! Who is looking at a page: the user of the browser's session, with its CSRF token.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, OriginalUri, Request};
use axum::http::header;
use axum::http::request::Parts;

use crate::Portal;
use crate::page::PageError;

pub(crate) struct Viewer {
    /// The session cookie's value; `None` for nobody signed in.
    pub session: Option<String>,
    pub csrf: String,
    pub user: Option<SignedIn>,
    pub forwarded_for: Option<String>,
    pub peer: Option<ConnectInfo<SocketAddr>>,
    /// The client's address as the limits layer determined it, for the API's login throttle.
    pub client: Option<berth_auth::ClientAddr>,
    /// The page asked for, to come back to after signing in.
    pub path: String,
}

pub(crate) struct SignedIn {
    pub id: i64,
    pub username: String,
    pub sysadmin: bool,
}

impl Viewer {
    /// The signed-in user, or a redirect to the sign-in page.
    pub fn user(&self) -> Result<&SignedIn, PageError> {
        self.user.as_ref().ok_or_else(|| PageError::SignIn(self.path.clone()))
    }

    /// The signed-in system administrator; others get the 403 page.
    pub fn admin(&self) -> Result<&SignedIn, PageError> {
        let user = self.user()?;
        if user.sysadmin { Ok(user) } else { Err(PageError::forbidden("This page is for system administrators.")) }
    }

    /// A form must carry the session's CSRF token.
    pub fn check_csrf(&self, fields: &crate::page::Fields) -> Result<(), PageError> {
        if self.session.is_some() && fields.get("csrf") == self.csrf {
            Ok(())
        } else {
            Err(PageError::forbidden(
                "The form is out of date or came from another site. Reload the page and try again.",
            ))
        }
    }
}

fn session_cookie(parts: &Parts) -> Option<String> {
    berth_auth::session_cookie(parts.headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()))
        .map(str::to_owned)
}

impl FromRequestParts<Portal> for Viewer {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &Portal) -> Result<Self, Self::Rejection> {
        let path = parts
            .extensions
            .get::<OriginalUri>()
            .map(|u| u.0.path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_default())
            .unwrap_or_else(|| parts.uri.path().to_owned());
        let forwarded_for = parts.headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().cloned();
        let client = parts.extensions.get::<berth_auth::ClientAddr>().copied();
        let mut viewer = Viewer { session: None, csrf: String::new(), user: None, forwarded_for, peer, client, path };
        if let Some(token) = session_cookie(parts)
            && let Some((user, csrf)) =
                state.auth.session(&token).await.map_err(|e| PageError::Internal(e.to_string()))?
        {
            viewer.user = Some(SignedIn { id: user.id, username: user.username, sysadmin: user.sysadmin });
            viewer.session = Some(token);
            viewer.csrf = csrf;
        }
        Ok(viewer)
    }
}

/// A form posted by a signed-in user, with the session's CSRF token: what every form handler
/// but signing in and up takes.
pub(crate) struct Posted {
    pub viewer: Viewer,
    pub fields: crate::page::Fields,
}

impl FromRequest<Portal> for Posted {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &Portal) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let viewer = Viewer::from_request_parts(&mut parts, state).await?;
        viewer.user()?;
        let req = Request::from_parts(parts, body);
        let axum::Form(fields) = axum::Form::<Vec<(String, String)>>::from_request(req, state).await.map_err(|e| {
            PageError::Status(e.status(), "The form could not be read. Reload the page and try again.".to_owned())
        })?;
        let fields = crate::page::Fields(fields);
        viewer.check_csrf(&fields)?;
        Ok(Posted { viewer, fields })
    }
}
