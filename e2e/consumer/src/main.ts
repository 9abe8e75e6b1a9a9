import { load } from 'ondevice';

const model = await load('/bundles/penguins/channel.json');
const prediction = await model.predict({
  island: 'Biscoe',
  sex: null,
  bill_length_mm: 46.5,
  bill_depth_mm: 14.8,
  flipper_length_mm: 215,
  body_mass_g: 5000,
});

// What the app shows (and the consumer test reads).
if (prediction.kind === 'classification') document.querySelector('#species')!.textContent = prediction.label;
document.querySelector('#source')!.textContent = (await model.info()).source;

// For the consumer test only: a channel the app was not built with, loaded by hand.
(window as unknown as { ondeviceLoad: typeof load }).ondeviceLoad = load;
