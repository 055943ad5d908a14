"""failclosed: `failclosed.analyzers` finds permission code that fails open, `failclosed.app`
is the GitHub App around it. The two folders live at the top of the repository; here they
are symbolic links, so that the tree imports as installed (see the README's "Development")."""
