// The app's service worker, as `ondevice/vite` builds it (`offline`): Workbox precaches the app
// shell, the runtime assets and the live bundles listed at build time, and answers navigations
// with the app's page, so the app starts offline after one visit. Bundled per app build, with the
// list injected where `__ONDEVICE_PRECACHE__` stands.
import { clientsClaim } from 'workbox-core';
import { cleanupOutdatedCaches, createHandlerBoundToURL, precacheAndRoute, type PrecacheEntry } from 'workbox-precaching';
import { NavigationRoute, registerRoute } from 'workbox-routing';

declare const __ONDEVICE_PRECACHE__: PrecacheEntry[];
declare const __ONDEVICE_NAVIGATION__: string | null;

// A new build's worker takes over at once: its precache holds the app that was just deployed.
(self as unknown as { skipWaiting(): Promise<void> }).skipWaiting();
clientsClaim();
cleanupOutdatedCaches();
precacheAndRoute(__ONDEVICE_PRECACHE__);
if (__ONDEVICE_NAVIGATION__ !== null) registerRoute(new NavigationRoute(createHandlerBoundToURL(__ONDEVICE_NAVIGATION__)));
