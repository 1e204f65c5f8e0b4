"""Controller-side library of the Harbor deploy: data defaults, validation, secrets, TLS, installer fetch, harbor.yml."""
