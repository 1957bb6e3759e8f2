// AWS's linter for APPSYNC_JS resolvers (@aws-appsync/eslint-plugin), as its README sets up
// the `recommended` rules: the TypeScript parser with type information (projectService),
// which finds schema/tsconfig.json for schema/resolvers/*.js.
//
// `cargo xtask lint-resolvers` copies this file, package.json and package-lock.json to
// target/tools/appsync-lint/ (where `cargo xtask setup` ran `npm ci`) and runs eslint from
// the project root with `--config` pointing at the copy, so `files` below is relative to the
// project root.
import appsync from '@aws-appsync/eslint-plugin';

export default [
  {
    files: ['schema/resolvers/**/*.js'],
    languageOptions: {
      sourceType: 'module',
      parserOptions: { projectService: true },
    },
  },
  { ...appsync.configs.recommended, files: ['schema/resolvers/**/*.js'] },
];
