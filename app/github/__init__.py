"""3. Talking to GitHub: `port.GitHubPort`, what a job needs from GitHub, and `client`, its
githubkit implementation: the only module that talks to the GitHub API.
"""
