"""The offline preview: the program under Pulumi's mock engine, helm rendering, comments and comparisons."""
