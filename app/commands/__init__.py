"""The commands: `failclosed` (`cli`), `failclosed serve` and `failclosed worker` (`serve`),
`failclosed jobs` (`jobs`), `failclosed setup` (`setup`), and the GitHub Action's script
(`action`). They start the parts in the other folders; none holds the App's logic.
"""
