//! The page's display preferences: projector mode and the colour theme.
//! They outlast a session (the instructor's view following another
//! student keeps them) and a reload (`app` keeps them in the browser).

/// Light, dark, or what the system prefers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Theme {
    #[default]
    Auto,
    Light,
    Dark,
}

impl Theme {
    pub fn value(self) -> &'static str {
        match self {
            Theme::Auto => "auto",
            Theme::Light => "light",
            Theme::Dark => "dark",
        }
    }

    pub fn from_value(value: &str) -> Theme {
        match value {
            "light" => Theme::Light,
            "dark" => Theme::Dark,
            _ => Theme::Auto,
        }
    }

    pub fn next(self) -> Theme {
        match self {
            Theme::Auto => Theme::Light,
            Theme::Light => Theme::Dark,
            Theme::Dark => Theme::Auto,
        }
    }
}

/// How the page is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Prefs {
    /// Large type and a simpler layout, for a projector.
    pub projector: bool,
    pub theme: Theme,
}

/// Everything that can happen to the preferences.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrefsAction {
    ToggleProjector,
    CycleTheme,
}

impl Prefs {
    pub fn apply(&mut self, action: PrefsAction) {
        match action {
            PrefsAction::ToggleProjector => self.projector = !self.projector,
            PrefsAction::CycleTheme => self.theme = self.theme.next(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The theme button goes round system, light and dark; each is kept
    /// by its value.
    #[test]
    fn the_theme_goes_round() {
        let mut prefs = Prefs::default();
        let mut seen = Vec::new();
        for _ in 0..3 {
            prefs.apply(PrefsAction::CycleTheme);
            seen.push(prefs.theme);
            assert_eq!(Theme::from_value(prefs.theme.value()), prefs.theme);
        }
        assert_eq!(seen, [Theme::Light, Theme::Dark, Theme::Auto]);
        prefs.apply(PrefsAction::ToggleProjector);
        assert!(prefs.projector);
    }
}
